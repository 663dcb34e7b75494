"""``accounts`` sits below the API of ``allocations``: it takes its plumbing from ``capital_allocation``."""

from __future__ import annotations

import ast
from pathlib import Path

ACCOUNTS = Path(__file__).resolve().parents[2] / "accounts"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_accounts_does_not_import_the_allocations_api():
    offenders = {
        f"{path.relative_to(ACCOUNTS.parent)}: {module}"
        for path in ACCOUNTS.rglob("*.py")
        for module in _imported_modules(path)
        if module == "allocations.api" or module.startswith("allocations.api.")
    }
    assert not offenders
