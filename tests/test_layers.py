"""The layers of src/vskd import one way down (docs/architecture.md, "Layers").

foundation (errors, seed, limits, io, gaf, config) <- data <- models <- losses <- engine <- deploy / commands <- cli

Every ``import`` / ``from ... import`` of every module is read with :mod:`ast`, those inside functions
(lazy imports) included, and each target is mapped to its layer. A module may import its own layer and
any layer below it, never one above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vskd"

#: top-level modules of the package that form the foundation: they import nothing above themselves
FOUNDATION = {"errors", "seed", "gaf", "config", "limits", "io", "threads", "resources", "__init__", "__version__"}

#: layer -> the layers it may import (itself included)
ALLOWED: dict[str, set[str]] = {
    "foundation": {"foundation"},
    "data": {"foundation", "data"},
    "models": {"foundation", "data", "models"},
    "losses": {"foundation", "data", "models", "losses"},
    "engine": {"foundation", "data", "models", "losses", "engine"},
    "deploy": {"foundation", "data", "models", "deploy"},
    "commands": {"foundation", "data", "models", "losses", "engine", "deploy", "commands"},
    "cli": {"foundation", "data", "models", "losses", "engine", "deploy", "commands", "cli"},
}

#: single modules a layer may import beyond its layers: (importer layer, imported module)
EXCEPTIONS = {
    ("deploy", "vskd.engine.checkpoints"),  # loading a trained model is deploy's job too
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "vskd":
        raise ValueError(module)
    if len(parts) == 1 or parts[1] in FOUNDATION:
        return "foundation"
    if parts[1] in ("cli", "__main__"):
        return "cli"
    return parts[1]


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC.parent / rel).with_suffix(".py").is_file() or (SRC.parent / rel / "__init__.py").is_file()


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """The vskd modules ``source`` (the text of ``module``) imports, lazy imports included."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "vskd")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "vskd":
                continue
            subs = [f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}")]
            out.update(subs or [target])
            if len(subs) < len(node.names):
                out.add(target)
    return out


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    layer = layer_of(module)
    bad = []
    for target in sorted(imported_modules(source, module, is_package)):
        if layer_of(target) in ALLOWED[layer] or (layer, target) in EXCEPTIONS:
            continue
        bad.append(f"{module} ({layer}) imports {target} ({layer_of(target)})")
    return bad


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_module_imports_one_way_down():
    assert len(_modules()) > 50  # the whole package is read
    bad = []
    for path in _modules():
        bad += violations(path.read_text(), module_name(path), path.name == "__init__.py")
    assert not bad, "imports against the layering (docs/architecture.md):\n" + "\n".join(bad)


def test_every_subpackage_has_a_layer():
    packages = {p.parent.name for p in SRC.glob("*/__init__.py")}
    assert packages <= set(ALLOWED), f"new sub-package(s) {packages - set(ALLOWED)}: give them a layer here"
    top = {p.stem for p in SRC.glob("*.py")}
    assert top <= FOUNDATION | {"cli", "__main__"}, f"new top-level module(s) {top - FOUNDATION - {'cli', '__main__'}}"


def test_the_reader_sees_lazy_relative_and_from_imports():
    src = (
        "import os\n"
        "from vskd.errors import ConfigError\n"
        "from . import registry\n"
        "from ..models.features import TEACHER_FEATURES\n"
        "def f():\n"
        "    from vskd.engine import dist\n"
        "    import vskd.engine.trainer\n"
    )
    got = imported_modules(src, "vskd.losses.crd")
    assert got == {"vskd.errors", "vskd.losses.registry", "vskd.models.features", "vskd.engine.dist",
                   "vskd.engine.trainer"}
    bad = violations(src, "vskd.losses.crd")
    assert bad == ["vskd.losses.crd (losses) imports vskd.engine.dist (engine)",
                   "vskd.losses.crd (losses) imports vskd.engine.trainer (engine)"]
    # the package's own __init__: a relative import is relative to the package itself
    assert imported_modules("from .registry import DistillMethod\n", "vskd.losses", is_package=True) == {
        "vskd.losses.registry"}


@pytest.mark.parametrize("importer, target", [
    ("vskd.data.paired", "vskd.models.skeleton"),
    ("vskd.models.student", "vskd.losses.functional"),
    ("vskd.losses.sp", "vskd.engine.features"),
    ("vskd.engine.pipeline", "vskd.commands.train"),
    ("vskd.deploy.model", "vskd.losses.registry"),
    ("vskd.config", "vskd.data.augment"),
])
def test_upward_imports_are_refused(importer, target):
    assert violations(f"import {target}\n", importer)


def test_known_downward_imports_are_read():
    distiller = SRC / "engine" / "distiller.py"
    got = imported_modules(distiller.read_text(), "vskd.engine.distiller")
    assert {"vskd.losses.registry", "vskd.models.features", "vskd.engine.dist"} <= got
