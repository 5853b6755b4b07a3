"""The Lambda package the stack deploys: Chalice's, on a current runtime, without the AWS SDK, with bytecode.

Chalice names the runtime after the Python that packages it (3.11 here) and
bundles boto3 with its dependencies (21 MB of botocore) because the MSK IAM
signer requires it. Every function runs on RUNTIME instead, and the package
leaves out what that runtime already provides. Both are safe because the
package is pure Python (no compiled modules), which tests/integration/
test_lambda_package.py pins along with running the package as Lambda does.

Lambda's /var/task is read-only, so a package without bytecode is compiled
again by every cold start (bench/coldstart.py measures `import app`).
The package therefore ships RUNTIME's bytecode, compiled by an interpreter of
that version (``runtime_python``); without one it ships none, and says so.
"""

import csv
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from chalice.cdk import Chalice

# Amazon Linux 2023; deprecated 30 June 2029 (AWS Lambda runtimes table). docs/deploy.md.
RUNTIME = "python3.13"
CACHE_TAG = "cpython-313"  # RUNTIME's bytecode: __pycache__/<module>.cpython-313.pyc
LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unzips the package: the paths its tracebacks show
# The AWS SDK for Python and its dependencies, all in every Lambda Python runtime (/var/runtime).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "urllib3", "python_dateutil", "six")


def slim(package: Path, distributions: tuple[str, ...] = RUNTIME_PROVIDED) -> None:
    """Rewrite the zip without the files of ``distributions``, as their dist-info RECORDs list them, and
    without bytecode (chalice copies chalicelib's __pycache__, of the Python that packages it)."""
    with zipfile.ZipFile(package) as source:
        names = source.namelist()
        records = [n for n in names if n.endswith(".dist-info/RECORD") and n.split("-")[0] in distributions]
        dropped = {
            row[0] for record in records for row in csv.reader(io.TextIOWrapper(source.open(record), "utf-8")) if row
        }
        kept = io.BytesIO()
        with zipfile.ZipFile(kept, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                if info.filename not in dropped and not info.filename.endswith(".pyc"):
                    target.writestr(info, source.read(info))
    package.write_bytes(kept.getvalue())


def _cache_tag(python: str) -> str:
    answer = subprocess.run([python, "-c", "import sys; print(sys.implementation.cache_tag)"], capture_output=True)
    return answer.stdout.decode().strip()


@functools.cache
def runtime_python() -> str | None:
    """An interpreter of RUNTIME's version: $LAMBDA_PYTHON, else python3.13 on PATH, else one pyenv installed."""
    if chosen := os.environ.get("LAMBDA_PYTHON"):
        if _cache_tag(chosen) != CACHE_TAG:
            raise ValueError(f"LAMBDA_PYTHON={chosen} is not {RUNTIME}")
        return chosen
    pyenv = sorted(Path("~/.pyenv/versions").expanduser().glob(f"{RUNTIME[6:]}.*/bin/{RUNTIME}"))
    found = [shutil.which(RUNTIME), *map(str, pyenv)]  # a pyenv shim on PATH fails unless its version is selected
    return next((python for python in found if python and _cache_tag(python) == CACHE_TAG), None)


def compile_for_runtime(package: Path) -> bool:
    """Add RUNTIME's bytecode of every module to the zip; False (and a warning) without an interpreter for it.

    unchecked-hash: a deployed package never changes, so the runtime need not read the sources to trust
    the bytecode. Entries get a fixed date so that the same sources make the same zip (the CDK asset hash)."""
    python = runtime_python()
    if python is None:
        print(f"warning: no {RUNTIME} here (set LAMBDA_PYTHON): the package ships no bytecode", file=sys.stderr)
        return False
    with tempfile.TemporaryDirectory() as work:
        with zipfile.ZipFile(package) as archive:
            archive.extractall(work)
        options = ["-q", "-j", "0", "--invalidation-mode", "unchecked-hash", "-s", work, "-p", LAMBDA_TASK_ROOT]
        subprocess.run([python, "-m", "compileall", *options, work], check=True)
        with zipfile.ZipFile(package, "a", zipfile.ZIP_DEFLATED) as archive:
            for pyc in sorted(Path(work).rglob(f"*.{CACHE_TAG}.pyc")):
                entry = zipfile.ZipInfo(pyc.relative_to(work).as_posix())
                entry.external_attr = 0o100644 << 16  # readable by the runtime's user, as chalice's own entries
                archive.writestr(entry, pyc.read_bytes(), zipfile.ZIP_DEFLATED)
    return True


INGEST_ROUTES = (("/events", "post"), ("/matches/{match_id}/events/{event_type}", "delete"))
INTEGRATION_URI = (
    "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${%s.Arn}/invocations"
)


def split_ingest(sam_template: Path) -> None:
    """Serve the producer routes from a function of their own, IngestHandler: a copy of Chalice's APIHandler
    (same package and handler) with its own role, reserved concurrency and invoke permission. Chalice serves
    every route from one function, so without this a flood of public reads would take the concurrency
    producers need (docs/capacity.md)."""
    template = json.loads(sam_template.read_text())
    resources = template["Resources"]
    ingest = json.loads(json.dumps(resources["APIHandler"]))
    ingest["Properties"]["Role"] = {"Fn::GetAtt": ["IngestHandlerRole", "Arn"]}
    role = json.loads(json.dumps(resources["ApiHandlerRole"]))
    for policy in role["Properties"].get("Policies", []):
        policy["PolicyName"] = "IngestHandlerRolePolicy"
    permission = json.loads(json.dumps(resources["APIHandlerInvokePermission"]))
    permission["Properties"]["FunctionName"] = {"Ref": "IngestHandler"}
    resources |= {"IngestHandler": ingest, "IngestHandlerRole": role, "IngestHandlerInvokePermission": permission}
    paths = resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    for path, method in INGEST_ROUTES:
        paths[path][method]["x-amazon-apigateway-integration"]["uri"] = {"Fn::Sub": INTEGRATION_URI % "IngestHandler"}
    sam_template.write_text(json.dumps(template, indent=2))


def set_runtime(sam_template: Path, runtime: str = RUNTIME) -> None:
    template = json.loads(sam_template.read_text())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["Runtime"] = runtime
    sam_template.write_text(json.dumps(template, indent=2))


class LambdaApp(Chalice):
    """Chalice's CDK construct; the package is adjusted right after ``chalice package`` writes it."""

    def _package_app(self) -> None:
        super()._package_app()
        package_dir = Path(self._sam_package_dir)
        slim(package_dir / "deployment.zip")
        compile_for_runtime(package_dir / "deployment.zip")
        set_runtime(package_dir / "sam.json")
        split_ingest(package_dir / "sam.json")
