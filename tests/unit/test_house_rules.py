"""The house rules a newcomer relies on: short functions, and imports that point from tools to the product."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app.py", "chalicelib", "devstack", "infra", "bench", "soak", "matchtools")
TOOLS = ("bench", "soak", "matchtools", "devstack", "infra", "chalicelib", "app.py")
MAX_FUNCTION_LINES = 80


def sources(*names: str) -> list[Path]:
    found: list[Path] = []
    for name in names:
        path = ROOT / name
        found += [path] if path.suffix == ".py" else sorted(p for p in path.rglob("*.py") if ".out" not in str(p))
    return found


def imported(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_no_function_is_longer_than_80_lines():
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in sources(*PACKAGES)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_the_product_and_its_tools_never_import_the_tests_and_the_tests_helpers_never_import_the_soak():
    wrong = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sources(*TOOLS)
        for module in imported(path)
        if module == "tests" or module.startswith("tests.")
    ]
    wrong += [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sources("tests/support")
        for module in imported(path)
        if module == "soak" or module.startswith("soak.")
    ]
    assert wrong == []
