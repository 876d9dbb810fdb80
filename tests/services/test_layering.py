"""The product's import graph runs one way: the serving code (``services/``, ``kernels/``)
imports the generated stubs (``solace.v1``), nothing else of ``solace`` (the CLI and model
build) and nothing of ``tools`` (training, evaluation and benchmarks use the product; they are
not parts of it)."""

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
    tools = [
        name
        for name in _imports(path)
        if (name.split(".")[0] in ("solace", "tools")) and not name.startswith("solace.v1")
    ]
    assert not tools, f"{path.relative_to(ROOT)} imports {tools}"
