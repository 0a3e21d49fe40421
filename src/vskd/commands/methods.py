"""``vskd methods``: the registered distillation methods, one line each, with the paper.

``vskd methods`` prints a table (name, description, reference); ``--names`` prints the names only
(one per line, for scripts); ``--json`` a list of ``{"name", "description", "reference", "uses"}``.
Any name listed runs with ``vskd distill --method NAME`` (``docs/methods.md`` has the details).
"""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("methods", help="list the distillation methods (vskd distill --method NAME)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--names", action="store_true", help="print the method names only")
    g.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run)


def _uses(name: str) -> dict[str, list[str]]:
    from vskd.losses import create_method

    m = create_method(name)
    return {"student": list(m.student_uses), "teacher": list(m.teacher_uses), "batch": list(m.batch_uses)}


def _run(args) -> int:
    import json

    from vskd.losses import list_methods

    methods = list_methods()
    if args.names:
        print("\n".join(name for name, _, _ in methods))
        return 0
    if args.json:
        print(json.dumps([{"name": n, "description": d, "reference": r, "uses": _uses(n)} for n, d, r in methods],
                         indent=2))
        return 0
    width = max(len(n) for n, _, _ in methods)
    for name, desc, ref in methods:
        print(f"{name:<{width}}  {desc}")
        print(f"{'':<{width}}  {ref}")
    print(f"\n{len(methods)} methods; run one with: vskd distill --method NAME (options: --set distill.options.KEY=VALUE)")
    return 0
