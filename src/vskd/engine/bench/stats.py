"""Statistics of a benchmark: per-run mean ± std over seeds, and paired differences against a baseline.

Every run is compared with the baseline on the seeds both finished: the paired difference of test
accuracy and macro-F1 (its mean, a 95 % Student-t interval over seeds, and on how many seeds the run
was higher). Pairing by seed removes what the seed does to both runs (the teacher, the split of the
data into batches), so a gain can be clear while the two runs' own spreads overlap; with 3 seeds the
interval is wide (t = 4.30), which is the point of printing it.
"""

from __future__ import annotations

import statistics

__all__ = ["describe", "paired_difference"]


def describe(values: list[float]) -> dict:
    """``{"mean", "std", "n"}`` of per-seed values (sample std; 0 for one value; None for none)."""
    return {"mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else (0.0 if values else None),
            "n": len(values)}


def paired_difference(run: dict[str, float], baseline: dict[str, float]) -> dict:
    """``run - baseline`` over the seeds both have: mean, sample std, 95 % Student-t interval, wins.

    With differences ``d_1..d_n``: ``mean = sum(d)/n``, ``std`` the sample standard deviation (n - 1),
    ``ci95 = mean -+ t_{0.975, n-1} * std / sqrt(n)`` (None below 2 seeds), ``wins`` the number of seeds
    with ``d > 0`` and ``losses`` with ``d < 0``.
    """
    from scipy.stats import t as student_t

    seeds = sorted(set(run) & set(baseline), key=lambda s: (len(s), s))
    d = [run[s] - baseline[s] for s in seeds]
    n = len(d)
    out = {"n": n, "seeds": seeds, "mean": statistics.fmean(d) if d else None,
           "std": statistics.stdev(d) if n > 1 else None, "ci95": None,
           "wins": sum(x > 0 for x in d), "losses": sum(x < 0 for x in d)}
    if n > 1:
        half = float(student_t.ppf(0.975, n - 1)) * out["std"] / n ** 0.5
        out["ci95"] = [out["mean"] - half, out["mean"] + half]
    return out
