"""The package's layers import downwards only: core < data < models < eval < train < experiments < apps, study."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "charclf"
RANK = {"core": 0, "data": 1, "models": 2, "eval": 3, "train": 4, "experiments": 5, "apps": 6, "study": 6}
CORE = {"argtypes", "class_prior", "errors", "fileio", "model_config", "paths", "provenance", "runlock", "tensorops",
        "__init__", "__main__"}


def layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "charclf":
        return None
    return "core" if len(parts) == 1 or parts[1] in CORE else parts[1]


def imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py" and p != PACKAGE / "__init__.py")


def test_every_module_belongs_to_a_layer():
    for path in MODULES:
        assert layer(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)) in RANK, path


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_imports_point_down(path: Path):
    me = layer(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    for line, module in imports(path):
        other = layer(module)
        if other is None:
            continue
        upward = RANK[other] > RANK[me] or (RANK[other] == RANK[me] and other != me)
        assert not upward, f"{path.relative_to(PACKAGE.parent)}:{line} ({me}) imports {module} ({other})"
