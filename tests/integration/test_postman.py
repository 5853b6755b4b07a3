"""The Postman collection (postman/, generated from openapi.yaml) stays in step with the spec, and newman runs it
green against the real local stack."""

import difflib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import TOKEN

ROOT = Path(__file__).resolve().parents[2]
POSTMAN = ROOT / "postman"
COLLECTION = POSTMAN / "football-match-data.postman_collection.json"
ENVIRONMENT = POSTMAN / "local.postman_environment.json"
NEWMAN = ROOT / "node_modules" / ".bin" / "newman"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def node_tools() -> str:
    node = shutil.which("node")
    if node is None or not NEWMAN.exists():
        pytest.fail("needs Node.js and the packages of package-lock.json: `make node_modules/.installed` (npm ci)")
    return node


def documented_operations() -> dict[tuple[str, re.Pattern[str]], set[int]]:
    """(METHOD, path pattern) of every operation of openapi.yaml → its documented status codes."""
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    operations = {}
    for path, item in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")
        for method in METHODS:
            if method in item:
                operations[(method.upper(), pattern)] = {int(code) for code in item[method]["responses"]}
    return operations


def test_the_committed_collection_is_the_one_openapi_yaml_generates(tmp_path):
    node = node_tools()
    built = subprocess.run(
        [node, str(POSTMAN / "build.mjs"), "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    for committed in (COLLECTION, ENVIRONMENT):
        generated = (tmp_path / committed.name).read_text()
        if generated != committed.read_text():
            diff = difflib.unified_diff(
                committed.read_text().splitlines(), generated.splitlines(), "committed", "generated", lineterm="", n=1
            )
            pytest.fail(
                f"{committed.relative_to(ROOT)} is not what openapi.yaml and postman/scenario.mjs generate: run "
                "`make postman` and commit the result\n" + "\n".join(line[:200] for line in list(diff)[:40])
            )


def test_newman_runs_the_collection_green_against_the_local_stack(api_url, tmp_path):
    node_tools()
    report = tmp_path / "newman.json"
    run = subprocess.run(
        [
            str(NEWMAN),
            "run",
            str(COLLECTION),
            "--environment",
            str(ENVIRONMENT),
            "--env-var",
            f"baseUrl={api_url}",
            "--env-var",
            f"bearerToken={TOKEN}",
            "--timeout-request",
            "60000",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--color",
            "off",
            "--disable-unicode",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stdout[-30000:] + run.stderr
    summary = json.loads(report.read_text())["run"]
    assert summary["failures"] == []
    assert summary["stats"]["assertions"]["failed"] == 0
    assert summary["stats"]["assertions"]["total"] >= 100

    # Every operation of openapi.yaml was called, and each answer was one it documents.
    operations = documented_operations()
    called = set()
    for execution in summary["executions"]:
        request, code = execution["request"], execution["response"]["code"]
        path = "/" + "/".join(request["url"]["path"])
        matches = [key for key in operations if key[0] == request["method"] and key[1].match(path)]
        assert len(matches) == 1, f"{request['method']} {path} is no single operation of openapi.yaml"
        assert code in operations[matches[0]], f"{request['method']} {path} answered {code}, not documented"
        called.add(matches[0])
    assert called == set(operations), f"not called: {set(operations) - called}"
