"""Benchmarks: many runs over seeds from one spec file, resumable, summarised as tables and plots.

A benchmark spec (``configs/bench/*.yaml``) names a base experiment config, the seeds, the teachers
to train (once per seed, each with its own overrides) and the runs: the student alone, every
distillation method, ablations, and the time-series peers (aeon's MiniRocket, MultiRocket-Hydra,
Rocket: no camera, not distillable). The package is split by concern, with no module-global state:

* :mod:`~vskd.engine.bench.spec` — the spec format (documented there), parsed and validated;
* :mod:`~vskd.engine.bench.runner` — :class:`Bench`: the plan (teachers first), one step, the summary;
* :mod:`~vskd.engine.bench.executors` — serial, ``--jobs N`` process pool, ``--executor ray``;
* :mod:`~vskd.engine.bench.stats` — mean ± std over seeds, the paired Δ against a baseline;
* :mod:`~vskd.engine.bench.report` — markdown tables, bar plots, learning curves, the results page.

``from vskd.engine.bench import ...`` gives the public names of all five.
"""

from vskd.engine.bench.executors import cpu_count, run_pool, run_ray, run_serial
from vskd.engine.bench.report import (
    PEER_NOTE,
    bar_label,
    figure_runs,
    format_difference,
    has_deltas,
    markdown_tables,
    plot_bars,
    plot_curves,
    write_results,
)
from vskd.engine.bench.runner import Bench
from vskd.engine.bench.spec import BenchSpec, RunSpec, load_spec
from vskd.engine.bench.stats import describe, paired_difference

__all__ = [
    "PEER_NOTE",
    "Bench",
    "BenchSpec",
    "RunSpec",
    "bar_label",
    "cpu_count",
    "describe",
    "figure_runs",
    "format_difference",
    "has_deltas",
    "load_spec",
    "markdown_tables",
    "paired_difference",
    "plot_bars",
    "plot_curves",
    "run_pool",
    "run_ray",
    "run_serial",
    "write_results",
]
