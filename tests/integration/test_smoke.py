"""The smoke command, run against the local stack as a user would run it against a deployment."""

from matchtools.__main__ import main
from tests.support import TOKEN


def test_smoke_command_passes_against_the_local_stack(api_url, capsys):
    main(["smoke", "--url", api_url, "--token", TOKEN, "--timeout", "90"])
    out = capsys.readouterr().out
    assert "smoke test passed" in out
    assert out.count("ok  ") == 11
