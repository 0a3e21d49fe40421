"""``vskd datasets``: the registered dataset readers, one block each (:mod:`vskd.data.registry`).

``vskd datasets`` prints name, description, modalities, sensor rate, classes, protocols and what the
root is; ``--options`` adds each reader's options (name, default, help); ``--names`` prints the names
only; ``--json`` a list of objects with the same fields. Any name listed works as ``data.dataset`` in
a config and as ``vskd data check --dataset NAME``.
"""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("datasets", help="list the dataset readers (data.dataset, vskd data check --dataset)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--names", action="store_true", help="print the dataset names only")
    g.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--options", action="store_true", help="also list each reader's options")
    p.set_defaults(func=_run)


def describe(reader) -> dict:
    """A reader's declaration as plain data."""
    return {
        "name": reader.name,
        "description": reader.description,
        "reference": reader.reference,
        "root": reader.root_help,
        "modalities": list(reader.modalities),
        "rate_hz": reader.rate_hz,
        "classes": list(reader.classes) if reader.classes is not None else None,
        "protocols": {p: None if g is None else {"train": list(g[0]), "test": list(g[1])}
                      for p, g in reader.protocols.items()},
        "options": [{"name": o.name, "default": list(o.default) if isinstance(o.default, tuple) else o.default,
                     "types": [t.__name__ for t in o.types], "help": o.help} for o in reader.options],
    }


def _groups(g) -> str:
    return "" if g is None else f" (train {_span(g['train'])}, test {_span(g['test'])})"


def _span(values: list[int]) -> str:
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ",".join(map(str, values))


def _run(args) -> int:
    import json

    from vskd.data.registry import list_datasets

    rows = [describe(r) for r in list_datasets()]
    if args.names:
        print("\n".join(r["name"] for r in rows))
        return 0
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        classes = f"{len(r['classes'])} ({', '.join(r['classes'][:3])}, ...)" if r["classes"] else "from the data"
        rate = f"{r['rate_hz']:g} Hz" if r["rate_hz"] else "from the data"
        print(f"{r['name']}  {r['description']}")
        print(f"    modalities {', '.join(r['modalities'])}; inertial rate {rate}; classes {classes}")
        print(f"    protocols  {'; '.join(p + _groups(g) for p, g in r['protocols'].items())}")
        print(f"    root       {r['root'] or '(none)'}")
        if args.options:
            for o in r["options"]:
                print(f"    --option {o['name'] + '=' + repr(o['default']):<28} {o['help']}")
    print(f"\n{len(rows)} datasets; use one with data.dataset=NAME or vskd data check --dataset NAME")
    return 0
