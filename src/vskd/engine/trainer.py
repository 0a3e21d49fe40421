"""The training loop shared by the teacher, the student and every distillation method.

:class:`Trainer` knows nothing about models: it is given the module whose parameters it trains
(``trainable``: the student plus any adapters, or the teacher), a ``step`` function that turns a batch
into named losses (``{"loss": total, "ce": ..., ...}``) and an ``evaluate`` function that turns a
loader into metrics (``{"accuracy": ..., "macro_f1": ...}``). Per epoch it trains, evaluates on the
*validation* split, logs (progress bar, ``metrics.csv``, TensorBoard) and writes two checkpoints
atomically: ``last.pt`` (everything needed to resume: weights, optimizer, scheduler, RNG states,
history) and ``best.pt`` (best validation accuracy, ties to the earlier epoch; the exported model, meta
and history only); both are written by :mod:`vskd.engine.checkpoints`. A non-finite loss, or NaN/Inf
in the weights after an epoch, stops training with a :class:`~vskd.errors.VskdError` naming the epoch
before anything is saved: ``best.pt`` and ``last.pt`` keep the last good epoch, so ``--resume`` (with a
lower learning rate) continues from it. The test split is
never looked at here: the caller evaluates ``best.pt`` on it once training has ended.

Refit mode (``val_loader=None``): no validation split, nothing to select on; every epoch is "best", so
``best.pt`` is the last epoch's model (the final fit of cross-validation, :mod:`vskd.engine.cv`, which
chose the number of epochs on its folds beforehand). The history's ``val_*`` entries are then None.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.utils.data import Sampler

from vskd.engine.checkpoints import (BEST_KEYS, CHECKPOINT_FORMAT, atomic_save, load_checkpoint,
                                     nonfinite_entries, rng_state, set_rng_state)
from vskd.errors import VskdError


class EpochShuffleSampler(Sampler[int]):
    """A shuffling sampler whose order depends only on (seed, epoch): resumable and reproducible.

    Distributed (``world`` > 1), it is the data-parallel sampler: every rank draws the same
    permutation, padded by its first items to a multiple of ``world``, and rank ``r`` takes positions
    ``r, r + world, ...``. With a per-rank batch of ``B``, global batch ``j`` is then positions
    ``j*B*world ... (j+1)*B*world - 1`` of the permutation, the very batch a single process with batch
    ``B*world`` sees, split by stride, as :class:`Trainer` splits micro-batches: the 1-process run with
    ``micro_batches = world`` computes what the distributed run computes.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1):
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside a world of {world}")
        self.n, self.seed, self.epoch, self.rank, self.world = n, seed, 0, rank, world

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        if self.world > 1:
            order += order[: len(self) * self.world - self.n]
            order = order[self.rank::self.world]
        return iter(order)

    def __len__(self) -> int:
        return -(-self.n // self.world)


def split_batch(batch: dict, parts: int) -> list[dict]:
    """``parts`` micro-batches of ``batch`` by stride (items ``m, m + parts, ...``), every field split."""
    if parts == 1:
        return [batch]
    size = len(batch["label"])

    def take(v, m):
        if isinstance(v, dict):  # a multimodal teacher's views
            return {k: take(x, m) for k, x in v.items()}
        if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == size:
            return v[m::parts]
        if isinstance(v, np.ndarray) and v.ndim > 0 and v.shape[0] == size:
            return v[m::parts]
        if isinstance(v, (list, tuple)) and len(v) == size:
            return type(v)(v[m::parts])
        return v

    return [{k: take(v, m) for k, v in batch.items()} for m in range(min(parts, size))]


@dataclass
class TrainResult:
    best_epoch: int
    best_val: dict
    history: list[dict] = field(default_factory=list)
    best_path: Path | None = None
    last_path: Path | None = None


class Trainer:
    """Epoch loop with validation-based model selection, atomic checkpoints and resume.

    Args:
        run_dir: where ``last.pt``, ``best.pt``, ``metrics.csv`` and TensorBoard logs go.
        trainable: the module whose ``state_dict`` is checkpointed and resumed (student + adapters,
            or the teacher). It is put in train mode for each epoch and eval mode for evaluation.
        optimizer / scheduler: built by the caller over ``trainable``'s parameters; the scheduler is
            stepped once per epoch.
        step: ``step(batch) -> dict`` with a scalar ``"loss"`` to minimise and other named terms to log.
        evaluate: ``evaluate(loader) -> dict`` with at least ``"accuracy"`` and ``"macro_f1"``.
        epochs: number of epochs.
        meta: saved in each checkpoint (config, class names, model kind...), so that a checkpoint
            alone rebuilds its model (``vskd evaluate``).
        export: ``export() -> dict`` of what to keep in ``best.pt`` (default ``trainable.state_dict()``).
        on_epoch_start: called with the epoch number before each epoch (``dataset.set_epoch``).
        grad_clip: clip the global gradient norm to this value (None: no clipping).
        micro_batches: split each batch into this many micro-batches by stride and accumulate their
            gradients (each loss divided by the count): the same update, less memory, and the
            1-process twin of a distributed run (see :class:`EpochShuffleSampler`).
        device: every micro-batch is moved there before ``step`` (the trained module is already there:
            the caller moved it); :mod:`vskd.engine.device`.
        amp: ``off`` | ``bf16`` | ``fp16``: ``step`` runs under :func:`torch.autocast`; fp16 (GPU only)
            scales the loss with a GradScaler (its state is in ``last.pt``), unscaled before clipping.

    Under ``torchrun`` (:mod:`vskd.engine.dist`) the ``step`` function runs the DDP-wrapped model,
    training losses are summed over the ranks before they are logged, and only rank 0 writes
    checkpoints and logs.
    """

    def __init__(self, run_dir: str | Path, trainable: nn.Module, optimizer: torch.optim.Optimizer,
                 step: Callable[[dict], dict], evaluate: Callable[[Iterable], dict], epochs: int,
                 scheduler: Any = None, meta: dict | None = None, export: Callable[[], dict] | None = None,
                 on_epoch_start: Callable[[int], None] | None = None, grad_clip: float | None = None,
                 progress: bool = True, tensorboard: bool = True, micro_batches: int = 1,
                 device: torch.device | str = "cpu", amp: str = "off"):
        from vskd.engine import dist
        from vskd.engine.device import check_amp, grad_scaler

        self.run_dir = Path(run_dir)
        self.trainable = trainable
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.step = step
        self.evaluate = evaluate
        self.epochs = epochs
        self.meta = meta or {}
        self.export = export or trainable.state_dict
        self.on_epoch_start = on_epoch_start
        self.grad_clip = grad_clip
        self.main = dist.is_main()
        self.progress = progress and self.main
        self.tensorboard = tensorboard and self.main
        if micro_batches < 1:
            raise VskdError(f"micro_batches must be >= 1, got {micro_batches}")
        self.micro_batches = micro_batches
        self.device = torch.device(device)
        check_amp(amp, self.device)
        self.amp = amp
        self.scaler = grad_scaler(amp, self.device)

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self, epoch: int, history: list[dict], best: dict) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "trainable": self.trainable.state_dict(),
            "model": self.export(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": rng_state(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "history": history,
            "best": best,
            "meta": self.meta,
        }

    def _resume(self) -> tuple[int, list[dict], dict]:
        path = self.run_dir / "last.pt"
        ckpt = load_checkpoint(path)
        missing = [k for k in ("trainable", "optimizer", "rng", "epoch", "history", "best") if k not in ckpt]
        if missing:
            raise VskdError(f"cannot resume from {path}: it lacks {', '.join(missing)} (not a last.pt of vskd)")
        names, bad, _ = nonfinite_entries(ckpt["trainable"])
        if bad:
            raise VskdError(f"cannot resume from {path}: {bad} of its weights are NaN/Inf (e.g. '{names[0]}')")
        try:  # a module's extra state (e.g. CRD's generator) may be absent from a last.pt older than it
            result = self.trainable.load_state_dict(ckpt["trainable"], strict=False)
            wrong = [f"missing '{k}'" for k in result.missing_keys if not k.endswith("_extra_state")]
            wrong += [f"unexpected '{k}'" for k in result.unexpected_keys]
            if wrong:
                raise RuntimeError(f"{len(wrong)} entries do not fit, e.g. {wrong[0]}")
        except RuntimeError as exc:
            raise VskdError(f"cannot resume from {path}: it was written for a different model "
                            f"({str(exc).splitlines()[0][:120]})") from None
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
        return ckpt["epoch"] + 1, ckpt["history"], ckpt["best"]

    def _kept(self) -> str:
        """What a stopped run leaves behind (for the divergence messages)."""
        if (self.run_dir / "last.pt").exists():
            return f"{self.run_dir / 'best.pt'} and last.pt keep the last good epoch (--resume continues from it)"
        return "no checkpoint was written"

    def _check_finite(self, epoch: int) -> None:
        """Stop before anything is saved when an epoch's updates left NaN/Inf in the trained weights."""
        names, bad, total = nonfinite_entries(self.trainable.state_dict())
        if bad:
            raise VskdError(f"training diverged at epoch {epoch + 1}: {bad} of {total} weights are NaN/Inf after "
                            f"its updates (e.g. '{names[0]}'); {self._kept()}; lower the learning rate "
                            f"(train.lr) or clip gradients (train.grad_clip)")

    # ------------------------------------------------------------------ loop
    def fit(self, train_loader: Iterable, val_loader: Iterable | None, resume: bool = False) -> TrainResult:
        """Train for ``epochs``; select ``best.pt`` on ``val_loader``, or with ``val_loader=None`` (refit
        mode) keep the last epoch."""
        from tqdm.auto import tqdm

        from vskd.engine import dist
        from vskd.engine.device import autocast, to_device

        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        dist.barrier()
        start, history, best = 0, [], {"epoch": -1, "accuracy": -math.inf}
        if resume and (self.run_dir / "last.pt").exists():
            start, history, best = self._resume()
            if self.main:
                print(f"[vskd] resuming {self.run_dir} at epoch {start + 1}/{self.epochs}")
        writer = self._tensorboard()
        for epoch in range(start, self.epochs):
            if self.on_epoch_start is not None:
                self.on_epoch_start(epoch)
            self.trainable.train()
            sums: dict[str, float] = {}
            count = 0
            bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                       disable=not self.progress, dynamic_ncols=True)
            for batch in bar:
                self.optimizer.zero_grad(set_to_none=True)
                micro = split_batch(batch, self.micro_batches)
                for part in micro:
                    part = to_device(part, self.device)
                    with autocast(self.amp, self.device):
                        losses = self.step(part)
                    loss = losses["loss"]
                    if not torch.isfinite(loss):
                        terms = {k: float(v.detach()) for k, v in losses.items()}
                        raise VskdError(f"training diverged at epoch {epoch + 1}: the loss is {loss.item()} "
                                        f"(terms: {terms}); {self._kept()}; lower the learning rate "
                                        f"(train.lr) or clip gradients (train.grad_clip)")
                    if self.scaler is not None:
                        self.scaler.scale(loss / len(micro)).backward()
                    else:
                        (loss / len(micro)).backward()
                    n = len(part["label"])
                    count += n
                    for k, v in losses.items():
                        sums[k] = sums.get(k, 0.0) + float(v.detach()) * n
                if self.scaler is not None and self.grad_clip:
                    self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
                if self.grad_clip:
                    nn.utils.clip_grad_norm_(self.trainable.parameters(), self.grad_clip)
                if self.scaler is not None:  # skips the step when a gradient overflowed, then adapts the scale
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    self.optimizer.step()
                bar.set_postfix(loss=f"{sums['loss'] / count:.4f}")
            self._check_finite(epoch)
            if dist.active():  # the epoch's mean losses over every rank's samples
                keys = sorted(sums)
                reduced = dist.all_reduce_sum([float(count), *(sums[k] for k in keys)])
                count, sums = int(reduced[0]), dict(zip(keys, reduced[1:]))
            if self.scheduler is not None:
                self.scheduler.step()
            self.trainable.eval()
            refit = val_loader is None
            val = {"accuracy": None, "macro_f1": None} if refit else self.evaluate(val_loader)
            row = {"epoch": epoch + 1, **{f"train_{k}": v / max(count, 1) for k, v in sums.items()},
                   "val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"],
                   "lr": self.optimizer.param_groups[0]["lr"]}
            history.append(row)
            improved = refit or val["accuracy"] > best["accuracy"]
            if improved:
                best = {"epoch": epoch, "accuracy": val["accuracy"], "macro_f1": val["macro_f1"]}
            if self.main:
                ckpt = self._checkpoint(epoch, history, best)
                if improved:  # best.pt: what evaluation and deployment need, without the optimizer state
                    atomic_save({k: ckpt[k] for k in BEST_KEYS}, self.run_dir / "best.pt")
                atomic_save(ckpt, self.run_dir / "last.pt")
                self._log(row, writer)
            dist.barrier()
            if self.progress:
                shown = "(refit: no validation)" if refit else \
                    f"val acc {val['accuracy']:.3f} f1 {val['macro_f1']:.3f}" + (" *" if improved else "")
                print(f"[vskd] epoch {epoch + 1}/{self.epochs} loss {row.get('train_loss', float('nan')):.4f} "
                      f"{shown}", flush=True)
        if writer is not None:
            writer.close()
        return TrainResult(best_epoch=best["epoch"], best_val=best, history=history,
                           best_path=self.run_dir / "best.pt", last_path=self.run_dir / "last.pt")

    # ------------------------------------------------------------------ logging
    def _tensorboard(self):
        if not self.tensorboard:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard not installed: CSV logs only
            return None
        return SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))

    def _log(self, row: dict, writer) -> None:
        path = self.run_dir / "metrics.csv"
        rows = []
        if path.exists():
            with path.open() as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["epoch"]) < row["epoch"]]
        rows.append(row)
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        tmp = path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, path)
        if writer is not None:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, (int, float)):
                    writer.add_scalar(k.replace("_", "/", 1), v, row["epoch"])
