"""Training-step times of vskd's models on a CUDA GPU against the CPU, in float32, bf16 and fp16 (one run).

    python benchmarks/gpu_timing.py --out gpu-timing.json            # on a machine with a GPU
    python benchmarks/gpu_timing.py --quick --devices cpu             # the script's own check (seconds)

One real batch of the synthetic dataset at the paper's settings (``configs/utd-mhad/paper.yaml`` with
``data.dataset=synthetic``: 8 segments of 224 px depth frames, 224 px GASF images, batch 16) and of the
v2 watch recipe (``watch1d-function-matching.yaml``: 180-sample windows, batch 16), random weights (the
cost of a step does not depend on what was learnt). Timed, each as one optimiser step (zero_grad,
forward, loss, backward, step):

* ``teacher``: the TRN teacher on BN-Inception, cross-entropy, SGD (train-teacher's step);
* ``student``: the ResNet18 GAF student, cross-entropy, Adam (train-student's step);
* ``dask-live``: student + the frozen teacher's forward on the batch's clips + CE, KD and DASK (distill's
  step without the teacher-output cache);
* ``dask-cache``: the same with the teacher's outputs read from a cache (distill's default);
* ``fm-watch``: the watch1d student and the rocket student as teacher (10 000 kernels, ridge-sized head)
  on the student's mixed window, KD + CE (the v2 function-matching step, ``teacher_view: student``).

Each model and mode: ``--warmup`` steps, then the median of ``--repeats`` timed steps (CUDA is
synchronised before each clock read). Modes: ``cpu`` (float32, ``--cpu-threads`` torch threads), and on
``cuda``: ``fp32``, ``bf16`` (autocast) and ``fp16`` (autocast + GradScaler) — the three values of
``*.train.amp`` as :class:`vskd.engine.trainer.Trainer` runs them (``vskd.engine.device``). Prints a
table with the ratio of each mode to the CPU and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vskd.config import load_config
from vskd.engine import builders
from vskd.engine.device import autocast, grad_scaler, to_device
from vskd.engine.distiller import Distiller, TeacherCache, method_features
from vskd.losses.registry import create_method

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "configs" / "utd-mhad" / "paper.yaml"
WATCH = REPO / "configs" / "utd-mhad" / "watch1d-function-matching.yaml"
ROCKET = REPO / "configs" / "utd-mhad" / "raw-rocket.yaml"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, params, device, amp, warmup: int, repeats: int, optimizer: str = "adam") -> dict:
    """Median / min seconds of one optimiser step of ``step() -> loss`` (the Trainer's arithmetic)."""
    params = [p for p in params if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9) if optimizer == "sgd" else torch.optim.Adam(params, lr=1e-4)
    scaler = grad_scaler(amp, device)
    times = []
    for i in range(warmup + repeats):
        _sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast(amp, device):
            loss = step()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
        if not torch.isfinite(loss.detach().float()):
            raise RuntimeError(f"non-finite loss ({float(loss)}) in mode {amp} on {device}")
    return {"median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times), "repeats": repeats}


def paper_parts(overrides: list[str]):
    """The paper's teacher, student, DASK method and one real training batch (the synthetic dataset)."""
    cfg = load_config(PAPER, ["data.dataset=synthetic", "data.root=null", *overrides])
    torch.manual_seed(0)
    _, splits, names = builders.load_data(cfg)
    bs = cfg.student.train.batch_size
    teacher = builders.build_teacher(cfg, len(names))
    student = builders.build_student(cfg, len(names))
    method = create_method("dask", builders.method_options(cfg))
    ds = builders.paired(cfg, splits.train[:bs], train=True, teacher=True)
    batch = builders.collate()([ds[i] for i in range(min(bs, len(ds)))])
    return names, teacher, student, method, ds, batch


def watch_parts(overrides: list[str]):
    """The watch1d student, an (unfitted) rocket student as its teacher, and one real window batch."""
    cfg = load_config(WATCH, ["data.dataset=synthetic", "data.root=null", *overrides])
    rcfg = load_config(ROCKET, ["data.dataset=synthetic", "data.root=null", "student.head_init=random",
                                *overrides])
    torch.manual_seed(0)
    _, splits, names = builders.load_data(cfg)
    student = builders.build_student(cfg, len(names))
    rocket = builders.build_student(rcfg, len(names))
    builders.fit_student(rocket, rcfg, splits.train)  # the kernels' biases from the data (MiniRocket-style fit)
    ds = builders.paired(cfg, splits.train, train=True)
    bs = cfg.student.train.batch_size
    batch = builders.collate()([ds[i] for i in range(min(bs, len(ds)))])
    return names, student, rocket, batch


def run(devices: list[str], warmup: int, repeats: int, cpu_threads: int, overrides: list[str],
        cpu_repeats: int) -> dict:
    torch.set_num_threads(cpu_threads)
    names, teacher, student, method, ds, batch = paper_parts(overrides)
    w_names, watch, rocket, w_batch = watch_parts(overrides)
    results: dict[str, dict] = {}
    modes = []
    for d in devices:
        modes += [("cpu", "off")] if d == "cpu" else [(d, "off"), (d, "bf16"), (d, "fp16")]
    for dev_name, amp in modes:
        device = torch.device(dev_name)
        reps = cpu_repeats if device.type == "cpu" else repeats
        warm = min(warmup, 1) if device.type == "cpu" else warmup
        key = "cpu" if device.type == "cpu" else {"off": "cuda-fp32", "bf16": "cuda-bf16", "fp16": "cuda-fp16"}[amp]
        print(f"[gpu_timing] {key} ...", flush=True)
        teacher.to(device), student.to(device), watch.to(device), rocket.to(device)
        b = to_device(batch, device)
        wb = to_device(w_batch, device)
        labels = torch.as_tensor(b["label"], device=device)
        row = {}
        teacher.train()
        row["teacher"] = time_steps(lambda: F.cross_entropy(teacher(b["teacher"]), labels), teacher.parameters(),
                                    device, amp, warm, reps, optimizer="sgd")
        student.train()
        row["student"] = time_steps(lambda: F.cross_entropy(student(b["student"]), labels), student.parameters(),
                                    device, amp, warm, reps)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        _, t_names = method_features(method)
        live = Distiller(student, teacher, method)
        live.setup_method(builders.collate()([ds[0]]), num_train=len(ds), num_classes=len(names))
        with torch.no_grad():
            cache = TeacherCache.build(teacher, [{**batch, "index": torch.arange(len(labels))}], t_names,
                                       progress=False)
        cached = Distiller(student, teacher, method, teacher_cache=cache)
        row["dask-live"] = time_steps(lambda: live(b)[1]["loss"], live.trainable.parameters(), device, amp, warm,
                                      reps)
        cb = {**b, "index": torch.arange(len(labels))}
        row["dask-cache"] = time_steps(lambda: cached(cb)[1]["loss"], cached.trainable.parameters(), device, amp,
                                       warm, reps)
        for p in teacher.parameters():
            p.requires_grad_(True)
        # function matching: the teacher labels the student's own mixed window
        x, wl = wb["student"], torch.as_tensor(wb["label"], device=device)
        rocket.eval()
        watch.train()

        def fm_step():
            lam = 0.7
            perm = torch.roll(torch.arange(x.shape[0], device=device), 1)
            xm = lam * x + (1 - lam) * x[perm]
            with torch.no_grad():
                t = rocket(xm).float()
            s = watch(xm)
            kd = F.kl_div(F.log_softmax(s.float() / 4, 1), F.softmax(t / 4, 1), reduction="batchmean") * 16
            ce = lam * F.cross_entropy(s, wl) + (1 - lam) * F.cross_entropy(s, wl[perm])
            return 0.1 * ce + 0.9 * kd

        row["fm-watch"] = time_steps(fm_step, watch.parameters(), device, amp, warm, reps)
        results[key] = row
        for k, v in row.items():
            print(f"  {k:11s} {v['median_ms']:9.2f} ms a step (min {v['min_ms']:.2f}, {v['repeats']} steps)",
                  flush=True)
        teacher.cpu(), student.cpu(), watch.cpu(), rocket.cpu()
        method.cpu()
    info = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "cpu_threads": cpu_threads,
        "batch": {"paper": int(len(batch["label"])), "watch": int(len(w_batch["label"]))},
        "shapes": {"teacher": list(batch["teacher"].shape), "student": list(batch["student"].shape),
                   "watch": list(w_batch["student"].shape)},
        "warmup": warmup, "repeats": repeats, "cpu_repeats": cpu_repeats,
    }
    return {"info": info, "results": results}


def table(out: dict) -> str:
    res = out["results"]
    keys = list(res)
    models = list(next(iter(res.values())))
    lines = ["| step | " + " | ".join(f"{k} (ms)" for k in keys) + " | " +
             " | ".join(f"cpu / {k}" for k in keys if k != "cpu") + " |",
             "|---|" + "---:|" * (len(keys) + sum(k != "cpu" for k in keys))]
    for m in models:
        cells = [f"{res[k][m]['median_ms']:.2f}" for k in keys]
        ratios = [f"{res['cpu'][m]['median_ms'] / res[k][m]['median_ms']:.1f}x" if "cpu" in res else "-"
                  for k in keys if k != "cpu"]
        lines.append(f"| {m} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", nargs="+", default=["cpu", "cuda"], help="cpu and/or cuda[:N]")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--cpu-repeats", type=int, default=5, help="timed steps on the CPU (slow at 224 px)")
    ap.add_argument("--cpu-threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--quick", action="store_true", help="32 px frames, 4 segments, 2 steps: checks the script")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    overrides = list(args.overrides)
    if args.quick:
        overrides += ["teacher.input.num_segments=4", "teacher.input.frame_size=40", "teacher.input.crop_size=32",
                      "student.input.out_size=32", "data.preset=tiny"]
        args.warmup, args.repeats, args.cpu_repeats = 1, 2, 2
    out = run(args.devices, args.warmup, args.repeats, args.cpu_threads, overrides, args.cpu_repeats)
    out["info"]["command"] = "python benchmarks/gpu_timing.py " + " ".join(
        [*(["--quick"] if args.quick else []), "--devices", *args.devices, "--cpu-threads", str(args.cpu_threads)])
    print(f"# gpu timing — {out['info']['date']} — {out['info']['gpu'] or 'no GPU'}, CPU {out['info']['machine']} "
          f"({args.cpu_threads} torch threads), torch {out['info']['torch']}; shapes {out['info']['shapes']}")
    print(table(out))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
