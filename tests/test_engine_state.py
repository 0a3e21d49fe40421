"""engine/ keeps no module-level mutable state (issue 17): a job's facts travel in its arguments and
return values (e.g. :class:`vskd.engine.jobs.RunDir`), never in a module's dict or list.

Every module under src/vskd/engine is read with :mod:`ast`: a module-level name bound to a dict, list or
set (a display, a comprehension or a ``dict()`` / ``list()`` / ``set()`` / ``defaultdict()`` call) must not be
mutated by any code of that module (item assignment or deletion, an augmented assignment, a mutating
method call), and no function may rebind a module-level name (``global``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "src" / "vskd" / "engine"

MUTATORS = {"append", "extend", "insert", "remove", "pop", "popitem", "clear", "update", "setdefault", "add",
            "discard", "sort", "reverse", "__setitem__", "__delitem__"}
CONTAINER_CALLS = {"dict", "list", "set", "defaultdict", "OrderedDict", "Counter", "deque"}


def _is_container(node: ast.expr | None) -> bool:
    if isinstance(node, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return True
    if isinstance(node, ast.Call):
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        return name in CONTAINER_CALLS
    return False


def module_state_problems(source: str, where: str) -> list[str]:
    """Mutations of module-level containers, and ``global`` rebinding, in ``source``."""
    tree = ast.parse(source)
    containers: set[str] = set()
    for node in tree.body:
        targets, value = [], None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        if _is_container(value):
            containers.update(t.id for t in targets if isinstance(t, ast.Name))
    problems = []

    def base_name(node: ast.expr) -> str | None:
        while isinstance(node, (ast.Subscript, ast.Attribute)):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    for node in ast.walk(tree):
        line = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Global):
            problems.append(f"{line}: global {', '.join(node.names)}")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                if isinstance(t, (ast.Subscript, ast.Attribute)) and base_name(t) in containers:
                    problems.append(f"{line}: module-level {base_name(t)} is mutated")
                elif isinstance(node, ast.AugAssign) and isinstance(t, ast.Name) and t.id in containers:
                    problems.append(f"{line}: module-level {t.id} is mutated")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
            if base_name(node.func.value) in containers:
                problems.append(f"{line}: module-level {base_name(node.func.value)} is mutated "
                                f"(.{node.func.attr})")
    return sorted(problems, key=lambda p: int(p.split(":")[1]))  # in source order


def test_engine_modules_keep_no_mutable_state():
    paths = sorted(ENGINE.rglob("*.py"))
    assert {"builders.py", "jobs.py", "checkpoints.py", "pipeline.py"} <= {p.name for p in paths}
    problems = []
    for path in paths:
        problems += module_state_problems(path.read_text(), str(path.relative_to(ENGINE)))
    assert not problems, "module-level state in engine/:\n" + "\n".join(problems)


def test_the_checker_sees_the_old_start_times_dict():
    old = (
        "import time\n"
        "_START: dict[str, float] = {}\n"
        "CACHE = dict()\n"
        "SEEN = []\n"
        "CONST = {'a': 1}\n"
        "def prepare(run):\n"
        "    _START[str(run)] = time.time()\n"
        "def forget(run):\n"
        "    CACHE.pop(run, None)\n"
        "    SEEN.append(run)\n"
        "    global COUNT\n"
        "def reads(run):\n"
        "    return _START.get(run, CONST['a'])\n"  # reading is fine
    )
    got = module_state_problems(old, "m.py")
    assert got == ["m.py:7: module-level _START is mutated", "m.py:9: module-level CACHE is mutated (.pop)",
                   "m.py:10: module-level SEEN is mutated (.append)", "m.py:11: global COUNT"]


def test_pipeline_is_a_re_export_of_builders_and_jobs():
    """User code written against vskd.engine.pipeline keeps working: the very same objects."""
    from vskd.engine import builders, checkpoints, jobs, pipeline

    for name in pipeline.__all__:
        home = next(m for m in (builders, jobs, checkpoints) if name in m.__all__)
        assert getattr(pipeline, name) is getattr(home, name), name
    assert {"train_teacher", "train_student", "distill", "evaluate_checkpoint", "load_data", "gaf_spec",
            "build_student", "build_teacher", "paired", "loader"} <= set(pipeline.__all__)
