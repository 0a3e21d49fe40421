#!/usr/bin/env bash
# Issue 15 items 4-5 (skeleton teacher >= 94 %, multimodal >= 97 %): Rocket in place of MiniRocket over the
# joints (teacher.arch skeleton_rocket: 10 000 random kernels, no per-window z-scoring; vskd.models.skeleton_rocket),
# chosen on cross-validation only. UTD-MHAD cross-subject, 4 leave-one-subject-out folds over 1, 3, 5, 7, then
# a refit on all four and one test read per finished run.
# Candidates and rules, fixed on 2026-12-04 before any CV figure of all folds was seen (two folds of seed 0,
# subjects 7 and 1, were read to choose the z-scoring off: docs/results/teachers-skeleton.md section 6):
#   S0  skeleton-minirocket (the shipped skeleton teacher, the v2 spec's teacher-skeleton-rocket; from V2)
#   S1  skeleton_rocket, the same input (joints, 96 frames, no augmentation)
#   D   S0 + the rocket student (fusion-rs of the v2 spec, the best multimodal teacher so far)
#   F   S1 + the rocket student (equal weights)
# Rule 1: S1 replaces S0 as the skeleton teacher (configs/utd-mhad/skeleton-rocket.yaml ships) if its mean CV
#   accuracy over seeds 0-4 is at least 0.5 points above S0's.
# Rule 2: F replaces the shipped multimodal teacher (fusion-teacher-rocket.yaml, A: CV 95.5 on seeds 0-2) if
#   its mean CV over seeds 0-4 is at least 0.5 points above both D's (same seeds) and 95.5.
# Test is read once per finished run and decides nothing.
#   V2=/work/runs-exp/w4/runs OUT=/work/runs-exp/w5/runs bash scripts/skeleton_rocket_cv.sh 0 1 2 3 4
set -euo pipefail
: "${V2:?folder of a utd-mhad v2 bench (seed<s>/teacher-skeleton-rocket, seed<s>/rocket-ridge; CV runs)}" "${OUT:?output folder}"
VSKD="${VSKD:-.venv/bin/vskd}"
ROOT="${ROOT:-../shared/data/utd-mhad}"
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
C=src/vskd/configs/utd-mhad
# the v2 spec's skeleton-rocket teacher (cpu.yaml + the spec's set + its overrides), arch swapped
SKEL=(-c $C/cpu.yaml --set data.selection=cv --set student.input.length=180 --set teacher.arch=skeleton_rocket
      --set teacher.input.modality=skeleton --set teacher.input.skeleton_length=96 --set "teacher.input.skeleton_features=[joints]"
      --set "teacher.input.skeleton_augment={rotate: 0.0, scale: 0.0, shear: 0.0, jitter: 0.0, crop: 1.0}"
      --set teacher.train.optimizer=adam --set teacher.train.lr=1.0e-8 --set teacher.train.weight_decay=0.0
      --set teacher.train.epochs=1 --set "teacher.train.lr_steps=[]")
source "$(dirname "$0")/cv_common.sh"
for s in "$@"; do
  w="$OUT/seed$s"; s0="$V2/seed$s/teacher-skeleton-rocket/best.pt"; rk="$V2/seed$s/rocket-ridge/best.pt"
  run "$w/S1" train-teacher "${SKEL[@]}" --set seed=$s
  fuse() { run "$w/$1" train-teacher -c $C/fusion-teacher-rocket.yaml --set seed=$s --set data.selection=cv \
               --set "teacher.members=[$2]"; }
  fuse D "$(member "$s0" skeleton), $(member "$rk" inertial)"
  fuse F "$(member "$w/S1/best.pt" skeleton), $(member "$rk" inertial)"
  set +u
  show "$s" S0 "$V2/seed$s/teacher-skeleton-rocket/results.json"
  for r in S1 D F; do show "$s" $r "$w/$r/results.json"; done
  set -u
done
