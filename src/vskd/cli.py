"""The ``vskd`` command line: one entry point, one sub-command per job.

Each sub-command lives in :mod:`vskd.commands` as a module with ``add_parser(subparsers)`` that
registers its parser and sets ``func`` (called with the parsed namespace, returns an exit code).
Heavy imports (torch, datasets) happen inside the handlers so ``vskd --help`` stays fast.
User errors (:class:`vskd.errors.VskdError`) print as one line and exit 2.
``--threads N`` (before the sub-command) fixes the torch threads per process; without it the policy of
:mod:`vskd.threads` applies (one core kept free for the rest of the machine).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from vskd import __version__
from vskd.errors import VskdError, VskdWarning

# modules under vskd.commands, in the order they appear in --help
COMMAND_MODULES = ["demo", "gaf", "data", "datasets", "train", "evaluate", "methods", "bench", "peers", "tune", "export",
                   "stream"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vskd",
        description="Vision-to-sensor knowledge distillation: a video teacher trains a watch-only student.",
    )
    parser.add_argument("--version", action="version", version=f"vskd {__version__}")
    parser.add_argument("--threads", dest="global_threads", type=int, default=None, metavar="N",
                        help="torch threads per process (default: the CPUs this process may use minus one, "
                             "shared among torchrun processes and bench --jobs workers; "
                             "or $VSKD_THREADS / $OMP_NUM_THREADS when set)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"vskd.commands.{name}").add_parser(sub)
    return parser


def _one_line_warnings(command: str) -> None:
    """Show :class:`VskdWarning` as ``vskd COMMAND: warning: ...`` (one line, no source line), each
    distinct message once per command (a benchmark reads a dataset folder once per run and fold)."""
    original = warnings.showwarning
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, VskdWarning):
            if str(message) not in shown:
                shown.add(str(message))
                print(f"vskd {command}: warning: {message}", file=file or sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    warnings.simplefilter("always", VskdWarning)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        from vskd import threads

        threads.apply(args.global_threads)
        with warnings.catch_warnings():
            _one_line_warnings(args.command)
            return int(args.func(args) or 0)
    except VskdError as exc:
        print(f"vskd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vskd {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
