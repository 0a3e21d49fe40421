#!/usr/bin/env bash
# The device check, as one prepared script (run by the device tool on a GPU machine, from the repo root):
#   1. the CUDA tests (tests/test_device.py: a teacher and a DASK distillation on the GPU, fp32 and fp16);
#   2. benchmarks/gpu_timing.py: step times of the paper's models and the v2 watch step, CPU vs CUDA fp32/bf16/fp16;
#   3. the paper recipe (configs/utd-mhad/paper.yaml, on the synthetic dataset: the real depth video does not
#      travel) end to end on the GPU through the CLI: train-teacher then distill --method dask, a few epochs,
#      fp32 and bf16, wall time per command.
# Everything it writes goes to $OUT (figures copied into docs/results/gpu-h200.md by hand).
set -uo pipefail
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/gpu-out}"; mkdir -p "$OUT"
EPOCHS="${EPOCHS:-5}"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
  nproc
} 2>&1 | tee "$OUT/machine.txt"

echo "== 1. CUDA tests"
python3 -m pytest -q -p no:cacheprovider tests/test_device.py 2>&1 | tail -15 | tee "$OUT/tests.txt"

echo "== 2. step timing"
python3 benchmarks/gpu_timing.py --devices cpu cuda --cpu-threads "$(nproc)" --out "$OUT/gpu-timing.json" 2>&1 \
  | tee "$OUT/gpu-timing.txt"

echo "== 3. the paper recipe end to end on the GPU (synthetic data, $EPOCHS epochs a command)"
work="$(mktemp -d)"
common=(-c configs/utd-mhad/paper.yaml --set data.dataset=synthetic --set data.root=null --set device=cuda
        --set data.num_workers=4 --set "data.cache_dir=$work/cache" --quiet)
for amp in off bf16; do
  t0=$(date +%s.%N)
  python3 -m vskd train-teacher "${common[@]}" --set teacher.train.epochs="$EPOCHS" --set teacher.train.amp=$amp \
    --out "$work/$amp/teacher" || echo "train-teacher ($amp) failed"
  t1=$(date +%s.%N)
  python3 -m vskd distill --method dask --teacher "$work/$amp/teacher/best.pt" "${common[@]}" \
    --set student.train.epochs="$EPOCHS" --set student.train.amp=$amp --out "$work/$amp/dask" || echo "distill ($amp) failed"
  t2=$(date +%s.%N)
  python3 - "$work/$amp" "$amp" "$t0" "$t1" "$t2" <<'PY' | tee -a "$OUT/e2e.txt"
import json, sys
from pathlib import Path
d, amp, t0, t1, t2 = Path(sys.argv[1]), sys.argv[2], *map(float, sys.argv[3:])
for name, wall in (("teacher", t1 - t0), ("dask", t2 - t1)):
    p = d / name / "results.json"
    r = json.loads(p.read_text()) if p.exists() else {}
    print(json.dumps({"amp": amp, "command": name, "wall_s_command": round(wall, 1), "wall_s_run": r.get("wall_s"),
                      "test": r.get("test"), "best_epoch": r.get("best_epoch")}))
PY
done
