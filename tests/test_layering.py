"""The package's floors: lower ones never import upper ones.

`layers/`, `training/` (the trainer core), `datasets/` and `utils/` are the
lower floors; `models/`, `presets/`, `wrappers/` and `cli/` build on them.
`metrics/` sits between: its feature extractor is a preset, so it may load
presets, but no wrapper or command. Read from the source (every `import`
and `from ... import`, also inside functions), so a lazy import cannot hide
a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keras_mae"
UPPER = ("models", "presets", "wrappers", "cli")
# Floor -> the keras_mae subpackages it must not import.
FORBIDDEN = {
    "layers": UPPER,
    "training": UPPER,
    "datasets": (*UPPER, "training"),
    "metrics": ("wrappers", "cli"),
    "utils": (*UPPER, "training", "layers", "datasets"),
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return {name for name in names if name.split(".")[0] == "keras_mae"}


@pytest.mark.parametrize("floor", sorted(FORBIDDEN))
def test_lower_floor_imports_no_upper_floor(floor):
    files = sorted((PACKAGE / floor).rglob("*.py"))
    assert files, f"keras_mae/{floor} has no modules"
    offending = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in files
        for name in sorted(_imports(path))
        if name.split(".")[1:2] and name.split(".")[1] in FORBIDDEN[floor]
    ]
    assert not offending, "\n".join(offending)


def test_the_floors_are_the_package():
    # A new subpackage must be placed on a floor here.
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert subpackages == set(FORBIDDEN) | set(UPPER)
