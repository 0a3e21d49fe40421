#!/usr/bin/env bash
# Issue 15 items 5-7 (multimodal teacher >= 97 %): does the closed-form depth teacher (dmm_ridge,
# configs/utd-mhad/depth-dmm-ridge.yaml) add to the shipped multimodal teacher? Chosen on cross-validation
# only (a fusion teacher's folds read its members' fold models). UTD-MHAD cross-subject.
# Candidates (fixed before running, 2026-12-06):
#   D  skeleton-rocket + rocket student (acc)               the shipped fusion-teacher-rockets.yaml
#   F  skeleton-rocket + rocket student + dmm_ridge (depth) equal weights: the camera's two views + the wrist
#   G  skeleton-rocket + dmm_ridge                          the camera alone (no wrist in the teacher)
# Rule (fixed before running): F replaces D as the shipped multimodal teacher only if its mean CV accuracy
# over seeds 0, 1, 2 is at least 0.5 points above D's; test is read once per finished run, reported, and
# decides nothing. G is reported for what the camera alone knows.
# The members are trained here (data.selection cv: 4 leave-one-subject-out folds + refit); dmm_ridge's
# backbone features are cached under $VSKD_CACHE after its first run (the ridge head is deterministic: a
# seed changes only fc0's unused random units).
#   OUT=/work/runs-exp/depth-fusion bash scripts/depth_fusion_cv.sh 0 1 2
set -euo pipefail
: "${OUT:?output folder}"
VSKD="${VSKD:-.venv/bin/vskd}"
ROOT="${ROOT:-../shared/data/utd-mhad}"
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
C=src/vskd/configs/utd-mhad
source "$(dirname "$0")/cv_common.sh"
for s in "$@"; do
  w="$OUT/seed$s"
  run "$w/skeleton-rocket" train-teacher -c $C/skeleton-rocket.yaml --set seed=$s
  run "$w/rocket" train-student -c $C/raw-rocket.yaml --set seed=$s
  run "$w/dmm" train-teacher -c $C/depth-dmm-ridge.yaml --set seed=$s
  fuse() { run "$w/$1" train-teacher -c $C/fusion-teacher-rockets.yaml --set seed=$s --set data.selection=cv \
               --set "teacher.members=[$2]"; }
  sk="$(member "$w/skeleton-rocket/best.pt" skeleton)"; rk="$(member "$w/rocket/best.pt" inertial)"
  dm="$(member "$w/dmm/best.pt" depth)"
  fuse D "$sk, $rk"
  fuse F "$sk, $rk, $dm"
  fuse G "$sk, $dm"
  for r in skeleton-rocket rocket dmm D F G; do
    show "$s" "$r" "$w/$r/results.json"
  done
done
