"""Reports of a benchmark summary: markdown tables, bar plots, learning curves, the results page.

Peer rows (``job == "peer"``: aeon's time-series classifiers, :mod:`vskd.engine.peers`) appear in every
table and bar plot, marked "no camera, not distillable" (the table's teacher column; a hatched grey bar
and a legend entry in the plot), whatever their group.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

from vskd.engine.bench.executors import cpu_count
from vskd.engine.peers import NOTE as PEER_NOTE

__all__ = ["PEER_NOTE", "bar_label", "figure_runs", "format_difference", "has_deltas", "markdown_tables",
           "plot_bars", "plot_curves", "write_results"]


def _pm(stat: dict) -> str:
    if stat["mean"] is None:
        return "—"
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}"


def format_difference(diff: dict | None) -> str:
    """``+2.3 [-2.8, +7.4], 2/3 higher`` (points of %), ``—`` without paired seeds."""
    if not diff or not diff["n"]:
        return "—"
    text = f"{100 * diff['mean']:+.1f}"
    if diff["ci95"]:
        lo, hi = diff["ci95"]
        text += f" [{100 * lo:+.1f}, {100 * hi:+.1f}]"
    return f"{text}, {diff['wins']}/{diff['n']} higher"


def has_deltas(summary: dict) -> bool:
    """Whether any run of the summary has a paired Δ against a baseline."""
    return any("vs_baseline" in row for row in summary["runs"].values())



def _method_cell(row: dict) -> str:
    if row["job"] == "peer":
        return f"peer: {row['method']}"
    return row["method"] or row["job"]


def _teacher_cell(row: dict) -> str:
    if row["job"] == "peer":
        return PEER_NOTE
    return row["teacher"] or "—"


def markdown_tables(summary: dict) -> str:
    groups: dict[str, list] = {}
    unrun = []
    for rid, row in summary["runs"].items():
        if row["test_accuracy"]["n"] == 0 and not row["failed"]:
            unrun.append(rid)  # no finished seed (a partial benchmark, --only): one line at the end
            continue
        groups.setdefault(row["group"], []).append((rid, row))
    compared = has_deltas(summary)
    delta = ["Δ acc (95% CI)", "Δ F1 (95% CI)", "vs"] if compared else []
    out = []
    for group, items in groups.items():
        head = ["run", "method", "teacher", "test acc (%)", "test macro-F1 (%)", "val acc (%)", "seeds", *delta]
        out += [f"### {group}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for rid, row in items:
            n = row["test_accuracy"]["n"]
            fail = f" ({len(row['failed'])} failed)" if row["failed"] else ""
            cells = [row["label"], _method_cell(row), _teacher_cell(row), _pm(row["test_accuracy"]),
                     _pm(row["test_macro_f1"]), _pm(row["val_accuracy"]), f"{n}{fail}"]
            if compared:
                vs = row.get("vs_baseline") or {}
                cells += [format_difference(vs.get("test_accuracy")), format_difference(vs.get("test_macro_f1")),
                          row.get("baseline") or "—"]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    if unrun:
        out += [f"Not run yet (no finished seed, {len(unrun)} of {len(summary['runs'])} rows): "
                + ", ".join(f"`{r}`" for r in unrun) + ".", ""]
    return "\n".join(out)


def bar_label(rid: str, row: dict, width: int = 28) -> str:
    """A bar's tick label: the run's label, or its id when the label is too long to fit under a bar
    ("VSKD defaults, augmentation, 60 epochs, ...")."""
    return row["label"] if len(row["label"]) <= width else rid


def bar_items(summary: dict, groups=("main",)) -> list[tuple[str, dict, bool]]:
    """(label, test-accuracy stats, is_peer) of the bars: the runs of ``groups`` and every peer run."""
    return [(bar_label(rid, row), row["test_accuracy"], row["job"] == "peer")
            for rid, row in summary["runs"].items()
            if (row["group"] in groups or row["job"] == "peer") and row["test_accuracy"]["mean"] is not None]


def plot_bars(summary: dict, path: Path, groups=("main",)) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    items = bar_items(summary, groups)
    if not items:
        return
    labels = [i[0] for i in items]
    means = [100 * i[1]["mean"] for i in items]
    stds = [100 * i[1]["std"] for i in items]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(items) + 2), 4))
    bars = ax.bar(range(len(items)), means, yerr=stds, capsize=3, color="#4c72b0")
    peers = [b for b, item in zip(bars, items) if item[2]]
    for b in peers:
        b.set_facecolor("#b0b0b0")
        b.set_hatch("//")
    if peers:
        ax.legend(handles=[Patch(facecolor="#b0b0b0", hatch="//", label=f"peer ({PEER_NOTE})")],
                  loc="lower right", fontsize=8)
    ax.set_xticks(range(len(items)), labels, rotation=60, ha="right")
    ax.set_ylabel("test accuracy (%)")
    lo = max(0, min(m - s for m, s in zip(means, stds)) - 5)
    ax.set_ylim(lo, min(100, max(m + s for m, s in zip(means, stds)) + 3))
    ax.set_title(f"{summary['benchmark']}: mean ± std over seeds {summary['seeds']}")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(out: Path, seed: int, run_ids: list[str], path: Path) -> None:
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    cv_runs = False
    for rid in run_ids:
        run = out / f"seed{seed}" / rid
        if (run / "cv.json").exists():  # cross-validated: the mean curve over the folds (the refit has none)
            mean = json.loads((run / "cv.json").read_text())["mean_curve"]
            ax.plot(range(1, len(mean) + 1), [100 * v for v in mean], label=f"{rid} (CV mean)")
            cv_runs = True
        elif (run / "metrics.csv").exists():
            rows = [r for r in csv.DictReader((run / "metrics.csv").open()) if r.get("val_accuracy")]
            if rows:
                ax.plot([int(r["epoch"]) for r in rows], [100 * float(r["val_accuracy"]) for r in rows], label=rid)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)" + (", CV mean over the folds" if cv_runs else ""))
    if ax.lines:  # runs without curves (peers, unfinished runs) draw nothing
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(bench, summary: dict, results_dir: str | Path, command: str, wall_s: float) -> Path:
    """``<name>.json``, ``<name>.md`` and plots under ``results_dir`` (e.g. docs/results)."""
    import shutil

    rd = Path(results_dir)
    img = rd / "img" / summary["benchmark"]
    img.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {cpu_count()} CPU cores, no GPU",
            "command": command, "wall_s_this_invocation": round(wall_s, 1),
            "wall_s_sum_of_runs": round(sum(s.get("wall_s") or 0 for r in summary["runs"].values()
                                            for s in r["seeds"].values()), 1)}
    summary = {**summary, **meta}
    (rd / f"{summary['benchmark']}.json").write_text(json.dumps(summary, indent=2))
    groups = {row["group"] for row in summary["runs"].values()}
    plot_bars(summary, img / "bars.png", groups=("main", "teachers") if "main" in groups else tuple(groups))
    first = bench.spec.seeds[0]
    shown = [rid for rid in figure_runs(bench) if (bench.out / f"seed{first}" / rid).is_dir()]  # runs of this sitting
    plot_curves(bench.out, first, shown, img / "curves.png")
    for stale in img.glob("confusion_*.png"):  # from an earlier summary that showed other runs
        if stale.stem.removeprefix("confusion_") not in shown:
            stale.unlink()
    for rid in shown:
        src = bench.out / f"seed{first}" / rid / "test_confusion.png"
        if src.exists():
            shutil.copyfile(src, img / f"confusion_{rid}.png")
    peers = any(row["job"] == "peer" for row in summary["runs"].values())
    md = [f"# {summary['benchmark']}", "",
          f"- date: {meta['date']}; machine: {meta['machine']}",
          f"- command: `{command}`",
          f"- spec: `{_relative(summary['spec'])}`; seeds {summary['seeds']}",
          f"- wall time: {meta['wall_s_sum_of_runs'] / 3600:.2f} h summed over runs",
          "", "Test top-1 accuracy and macro-F1 (%), mean ± std over seeds; " + selection_sentence(summary)
          + (" Δ: the paired difference from the run named under 'vs', seed by seed, in points: mean "
             "[95 % Student-t interval over seeds], and on how many seeds the run was higher."
             if has_deltas(summary) else "")
          + (f" Peers (aeon time-series classifiers, {PEER_NOTE}) are fitted on the training split the "
             "students train on, with the students' axes, and predict the test split once."
             if peers else ""), "",
          markdown_tables(summary), "",
          f"![bars](img/{summary['benchmark']}/bars.png)", "",
          (f"Learning curves (seed {first}) and confusion matrices (`img/{summary['benchmark']}/confusion_*.png`) "
           f"of: {', '.join(f'`{r}`' for r in shown)}." if shown else
           f"Learning curves: none of the figure runs ({', '.join(figure_runs(bench))}) was run in this sitting."), "",
          f"![curves](img/{summary['benchmark']}/curves.png)", "",
          *time_breakdown(summary)]
    notes = rd / f"{summary['benchmark']}.notes.md"  # hand-written discussion, kept across re-runs
    if notes.exists():
        md += ["## Discussion", "", notes.read_text()]
    (rd / f"{summary['benchmark']}.md").write_text("\n".join(md))
    return rd / f"{summary['benchmark']}.json"


def selection_sentence(summary: dict) -> str:
    """How the rows were selected: the validation split, cross-validation (``data.selection: cv``), or both."""
    rows = summary["runs"].values()
    kinds = {k for row in rows if row["job"] != "teacher" and row.get("selection")
             for k in row["selection"].split("/")}
    val = "selected on the validation split (held-out training subject), the test split read once per run."
    cv = ("selected by cross-validation (leave-one-group-out folds over the training subjects or trials, the "
          "epoch of the best mean validation curve, then a refit on the whole training side: the val column "
          "is the CV accuracy), the test split read once per run.")
    if "cv" not in kinds:
        return "every model " + val
    val_teachers = [r for r in rows if r["job"] == "teacher" and r["seeds"] and r.get("selection") != "cv"]
    cv_teachers = [r for r in rows if r["job"] == "teacher" and r["seeds"] and r.get("selection") == "cv"]
    teachers = (" Teachers trained by gradient select on their validation subject / trial." if val_teachers else "")
    if cv_teachers:
        teachers += " Closed-form teachers (fitted, not trained) are cross-validated like the students."
    if kinds == {"cv"}:
        return "every student " + cv + teachers
    return "the students trained with `data.selection: cv` were " + cv + " The others were " + val + teachers


def time_breakdown(summary: dict) -> list[str]:
    """Markdown lines: where the wall time went, by group (the runs' own ``wall_s``, summed over seeds)."""
    groups: dict[str, list[float]] = {}
    for row in summary["runs"].values():
        groups.setdefault(row["group"], []).extend(s["wall_s"] for s in row["seeds"].values() if s.get("wall_s"))
    groups = {g: w for g, w in groups.items() if w}
    if not groups:
        return []
    total = sum(sum(w) for w in groups.values())
    lines = ["## Where the time went", "",
             "Each finished run's own wall time (`wall_s`), summed by group over runs and seeds; runs in parallel "
             "jobs overlap, so the sum exceeds the elapsed time.", "",
             "| group | runs × seeds | wall (h) | share | median per run (min) |", "|---|---|---|---|---|"]
    for g, w in sorted(groups.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"| {g} | {len(w)} | {sum(w) / 3600:.2f} | {100 * sum(w) / total:.0f} % | "
                     f"{statistics.median(w) / 60:.1f} |")
    return [*lines, f"| all | {sum(len(w) for w in groups.values())} | {total / 3600:.2f} | 100 % | — |", ""]


def figure_runs(bench) -> list[str]:
    """The runs the learning curves and confusion matrices show: the spec's ``figures``, else the main
    teacher and the runs called ``student`` and ``dask``."""
    if bench.spec.figures:
        return list(bench.spec.figures)
    return [f"teacher-{bench.spec.main_teacher}", "student", "dask"]


def _relative(path: str) -> str:
    p = Path(path).resolve()
    try:
        return p.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.as_posix()
