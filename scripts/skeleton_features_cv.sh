#!/usr/bin/env bash
# Issue 15 item 4 (skeleton teacher >= 94 %): which input channels the Rocket skeleton teacher reads
# (joints, velocities, bones) and whether each channel is standardised with the training statistics
# (teacher.channel_norm train: one affine map for every recording, so a joint's level stays information
# while velocities, about 1/20 of a position, get the same scale), chosen on cross-validation only.
# UTD-MHAD cross-subject, 4 leave-one-subject-out folds over 1, 3, 5, 7, refit on all four, one test read
# per finished run.
# Candidates and rules, fixed on 2026-12-04 (session 31) before any figure of them was seen:
#   S1    the shipped skeleton_rocket (joints, no channel norm; scripts/skeleton_rocket_cv.sh's S1, from W5)
#   Jn    joints, channel norm train                 (does the normalisation alone change anything)
#   JV    joints + velocity, no channel norm
#   JVn   joints + velocity, channel norm train
#   JBn   joints + bones, channel norm train
#   JVBn  joints + velocity + bones, channel norm train
# Rule 1: the candidate with the highest mean CV accuracy over seeds 0-4 replaces S1 in
#   configs/utd-mhad/skeleton-rocket.yaml if its mean CV is at least 0.5 points above S1's and its paired
#   CV difference to S1 (scripts/paired.py --split val) has a 95 % interval above zero.
# Round 2, added on 2026-12-04 after round 1's seed-0 figures (every channel-standardised candidate fell
#   3-6 points below S1 on CV; the idea: per-channel standardisation distorts the skeleton's geometry, a
#   per-group scale would not), before any figure of these:
#   JVg   joints + velocity, channel norm group (one scale per group, no centring)
#   JBg   joints + bones, channel norm group
#   JVBg  joints + velocity + bones, channel norm group
#   Rule 1 then chooses among all eight candidates (the highest mean CV over seeds 0-4, same thresholds).
# Rule 2: if rule 1 ships a winner W, Fw = W + the rocket student (equal weights) replaces F (S1 + the
#   rocket student, CV 96.9) in fusion-teacher-rockets.yaml if its mean CV is at least 0.3 points above F's
#   with a paired CV interval above zero.
# Test is read once per finished run and decides nothing.
#   V2=/work/runs-exp/w4/runs W5=/work/runs-exp/w5/runs OUT=/work/runs-exp/w7/runs \
#     bash scripts/skeleton_features_cv.sh 0 1 2 3 4
# then, for rule 2, with W set to the winner's label:  WIN=JVn ... bash scripts/skeleton_features_cv.sh 0 1 2 3 4
set -euo pipefail
: "${V2:?folder of a utd-mhad v2 bench (seed<s>/rocket-ridge)}" "${W5:?skeleton_rocket_cv.sh output (seed<s>/S1, F)}" \
  "${OUT:?output folder}"
VSKD="${VSKD:-.venv/bin/vskd}"
ROOT="${ROOT:-../shared/data/utd-mhad}"
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
C=src/vskd/configs/utd-mhad
source "$(dirname "$0")/cv_common.sh"
# skeleton_rocket_cv.sh's S1 (the v2 spec's skeleton teacher recipe, arch skeleton_rocket), channels swapped
SKEL=(-c $C/cpu.yaml --set data.selection=cv --set student.input.length=180 --set teacher.arch=skeleton_rocket
      --set teacher.input.modality=skeleton --set teacher.input.skeleton_length=96
      --set "teacher.input.skeleton_augment={rotate: 0.0, scale: 0.0, shear: 0.0, jitter: 0.0, crop: 1.0}"
      --set teacher.train.optimizer=adam --set teacher.train.lr=1.0e-8 --set teacher.train.weight_decay=0.0
      --set teacher.train.epochs=1 --set "teacher.train.lr_steps=[]")
declare -A FEATS=([Jn]="[joints]" [JV]="[joints, velocity]" [JVn]="[joints, velocity]" [JBn]="[joints, bones]"
                  [JVBn]="[joints, velocity, bones]" [JVg]="[joints, velocity]" [JBg]="[joints, bones]"
                  [JVBg]="[joints, velocity, bones]")
declare -A NORM=([Jn]=train [JV]=none [JVn]=train [JBn]=train [JVBn]=train [JVg]=group [JBg]=group [JVBg]=group)
CANDIDATES=(Jn JV JVn JBn JVBn JVg JBg JVBg)
for s in "$@"; do
  w="$OUT/seed$s"
  for r in "${CANDIDATES[@]}"; do
    run "$w/$r" train-teacher "${SKEL[@]}" --set seed=$s --set "teacher.input.skeleton_features=${FEATS[$r]}" \
        --set "teacher.channel_norm=${NORM[$r]}"
  done
  if [[ -n "${WIN:-}" ]]; then
    run "$w/F-$WIN" train-teacher -c $C/fusion-teacher-rocket.yaml --set seed=$s --set data.selection=cv \
        --set "teacher.members=[$(member "$w/$WIN/best.pt" skeleton), $(member "$V2/seed$s/rocket-ridge/best.pt" inertial)]"
  fi
  show "$s" S1 "$W5/seed$s/S1/results.json"
  for r in "${CANDIDATES[@]}" ${WIN:+F-$WIN}; do show "$s" "$r" "$w/$r/results.json"; done
  show "$s" F "$W5/seed$s/F/results.json"
done
