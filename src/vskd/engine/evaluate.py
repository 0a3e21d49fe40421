"""Metrics and reports: top-1 accuracy, macro-F1, per-class accuracy, confusion matrices.

Metrics come from scikit-learn. Macro-F1 is the unweighted mean of per-class F1 scores, the figure
the HAR literature reports (the VSKD authors' "F-measure" is something else: the harmonic mean of
accuracy and a nearest-neighbour recall, which we do not use).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    """Accuracy, macro-F1 (over all ``num_classes`` labels), per-class accuracy and the confusion matrix.

    Per-class accuracy is the recall of each class (NaN-free: a class absent from ``y_true`` gets
    ``None``).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    labels = list(range(num_classes))
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    support = cm.sum(axis=1)
    per_class = [float(cm[i, i] / support[i]) if support[i] else None for i in labels]
    present = sorted(set(y_true.tolist()))
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        # macro over the classes present in the evaluated split (absent classes would count as F1 0)
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "per_class_accuracy": per_class,
        "confusion": cm.tolist(),
        "num_samples": int(len(y_true)),
    }


@torch.no_grad()
def predict(forward: Callable[[dict], torch.Tensor], batches: Iterable[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``forward(batch) -> logits`` over ``batches``; return (labels, predictions, probabilities)."""
    ys, ps, probs = [], [], []
    for batch in batches:
        logits = forward(batch).float()
        probs.append(torch.softmax(logits, dim=1).cpu())
        ps.append(logits.argmax(dim=1).cpu())
        ys.append(torch.as_tensor(batch["label"]).cpu())
    if not ys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return torch.cat(ys).numpy(), torch.cat(ps).numpy(), torch.cat(probs).numpy()


def save_confusion_png(confusion: list[list[int]] | np.ndarray, class_names: list[str], path: str | Path,
                       title: str = "") -> None:
    """Write a row-normalised confusion matrix (rows: true class) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    size = max(4.0, 0.32 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=90, fontsize=7)
    ax.set_yticks(range(n), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(metrics: dict, class_names: list[str], out_dir: str | Path, stem: str, title: str = "") -> Path:
    """Write ``<stem>.json`` (metrics with class names) and ``<stem>_confusion.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = dict(metrics)
    report["class_names"] = list(class_names)
    path = out / f"{stem}.json"
    path.write_text(json.dumps(report, indent=2))
    save_confusion_png(metrics["confusion"], class_names, out / f"{stem}_confusion.png", title=title)
    return path
