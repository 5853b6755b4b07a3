"""The Lambda package the stack deploys: Chalice's, on a current runtime, without the AWS SDK.

Chalice names the runtime after the Python that packages it (3.11 here) and
bundles boto3 with its dependencies (21 MB of botocore) because the MSK IAM
signer requires it. Every function runs on RUNTIME instead, and the package
leaves out what that runtime already provides. Both are safe because the
package is pure Python (no compiled modules), which tests/integration/
test_lambda_package.py pins along with running the package as Lambda does.
"""

import csv
import io
import json
import zipfile
from pathlib import Path

from chalice.cdk import Chalice

# Amazon Linux 2023; deprecated 30 June 2029 (AWS Lambda runtimes table). README: Deploy to AWS.
RUNTIME = "python3.13"
# The AWS SDK for Python and its dependencies, all in every Lambda Python runtime (/var/runtime).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "urllib3", "python_dateutil", "six")


def slim(package: Path, distributions: tuple[str, ...] = RUNTIME_PROVIDED) -> None:
    """Rewrite the zip without the files of ``distributions``, as their dist-info RECORDs list them."""
    with zipfile.ZipFile(package) as source:
        names = source.namelist()
        records = [n for n in names if n.endswith(".dist-info/RECORD") and n.split("-")[0] in distributions]
        dropped = {
            row[0] for record in records for row in csv.reader(io.TextIOWrapper(source.open(record), "utf-8")) if row
        }
        kept = io.BytesIO()
        with zipfile.ZipFile(kept, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                if info.filename not in dropped:
                    target.writestr(info, source.read(info))
    package.write_bytes(kept.getvalue())


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
        set_runtime(package_dir / "sam.json")
