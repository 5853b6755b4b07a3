"""A deployment package laid out as Lambda runs it, for the package's tests and bench/coldstart.py.

``lay_out`` unzips it into ``task`` (Lambda's /var/task) beside ``runtime`` (/var/runtime: the SDK that
every Lambda Python runtime provides, copied from this venv and precompiled, as there); ``command`` starts
lambda_bootstrap.py on them with the runtime's Python (infra/package.py's ``runtime_python``, else this one).
"""

import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")


def python() -> str:
    from infra.package import runtime_python  # with chalice.cdk: aws_cdk, only where a package is laid out

    return runtime_python() or sys.executable


def lay_out(package_zip: Path, work: Path) -> tuple[Path, Path]:
    """(task, runtime) under ``work``."""
    from infra.package import RUNTIME_PROVIDED

    task, runtime = work / "task", work / "runtime"
    with zipfile.ZipFile(package_zip) as archive:
        archive.extractall(task)
    for name in RUNTIME_PROVIDED:
        for file in metadata.distribution(name).files or []:
            source = Path(str(file.locate()))
            if source.is_file() and not str(file).startswith(".."):
                (runtime / str(file)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, runtime / str(file))
    subprocess.run([python(), "-m", "compileall", "-q", "-j", "0", str(runtime)], check=True)
    return task, runtime


def command(task: Path, runtime: Path, *flags: str) -> list[str]:
    """Lambda's runtime on the laid-out package: nothing but it, the SDK and the standard library importable,
    and nothing written (/var/task is read-only)."""
    return [python(), "-I", "-S", "-B", *flags, str(BOOTSTRAP), str(task), str(runtime)]
