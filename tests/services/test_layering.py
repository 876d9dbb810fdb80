"""The product's import graph runs one way: the generated stubs (``solace``, which holds only
``solace.v1``) at the bottom, the serving code (``services/``, ``kernels/``) on them, and above
it the entry points (``solace_cli``: the command, the launchers, the model build) and the tools
(``tools``: training, evaluation and benchmarks use the product; they are not parts of it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = sorted(p for room in ("services", "kernels") for p in (ROOT / room).rglob("*.py"))


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_serving_code_imports_no_tool(path: Path) -> None:
    above = [name for name in _imports(path) if name.split(".")[0] in ("solace_cli", "tools")]
    assert not above, f"{path.relative_to(ROOT)} imports {above}"


def test_the_stubs_package_holds_only_generated_code() -> None:
    """``solace/`` is the generated ``v1`` and a docstring: nothing hand-written lives there,
    so nothing of the product's layers can hide beneath the serving code."""
    tracked = sorted(p.relative_to(ROOT / "solace") for p in (ROOT / "solace").rglob("*.py"))
    hand_written = [p for p in tracked if p.parts[0] != "v1"]
    assert [str(p) for p in hand_written] == ["__init__.py"]
    assert not _imports(ROOT / "solace" / "__init__.py")
