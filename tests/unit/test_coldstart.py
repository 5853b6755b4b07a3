"""bench.coldstart's parts that need no stack: the emulator's phases, and what a fresh ``import app`` loads."""

import subprocess
import sys
from pathlib import Path

from devstack.lambda_runtime import phases

PROJECT_DIR = Path(__file__).resolve().parents[2]
EMULATOR_LOG = """\
02 Dec 2026 20:22:06,180 [INFO] (rapid) INIT START(type: on-demand, phase: init)
02 Dec 2026 20:22:06,789 [INFO] (rapid) INIT REPORT(durationMs: 608.652000)
02 Dec 2026 20:22:06,936 [INFO] (rapid) INVOKE RTDONE(status: success, produced bytes: 0, duration: 147.134000ms)
REPORT RequestId: 1707f234	Init Duration: 0.32 ms	Duration: 756.11 ms	Billed Duration: 757 ms
02 Dec 2026 20:22:07,050 [INFO] (rapid) INVOKE RTDONE(status: success, produced bytes: 0, duration: 112.380000ms)
"""


def test_the_phases_are_the_emulators_init_and_each_invocation():
    assert phases(EMULATOR_LOG) == (608.652, [147.134, 112.38])
    assert phases("") == (None, [])


def test_import_app_leaves_kafka_and_the_sdk_to_the_paths_that_use_them():
    listing = "import app, sys; print(' '.join(sorted({m.partition('.')[0] for m in sys.modules})))"
    answer = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(PROJECT_DIR)!r}); {listing}"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    imported = set(answer.stdout.split())
    assert "chalicelib" in imported
    assert not {"kafka", "boto3", "s3transfer", "urllib3", "aws_msk_iam_sasl_signer"} & imported
