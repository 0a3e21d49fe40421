# Helpers shared by the cross-validation experiment scripts (sourced, not run): the scripts set VSKD, ROOT
# and C (the configs folder) before sourcing.
# run OUT ARGS...: one vskd command into OUT unless OUT/results.json exists (then nothing); resumes a
#   half-finished run (last.pt or cv/ present); one thread, quiet.
run() { local out=$1; shift; [[ -f $out/results.json ]] && return 0
        local r=(); [[ -e $out/last.pt || -d $out/cv ]] && r=(--resume)
        "$VSKD" --threads 1 "$@" --set "data.root=$ROOT" --out "$out" --quiet "${r[@]}" > /dev/null; }
# member CHECKPOINT NAME: one teacher.members entry
member() { echo "{checkpoint: '$1', name: $2}"; }
# show SEED LABEL RESULTS_JSON: "seed S LABEL: CV x test y"
show() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f'seed $1 $2: CV {100*d[\"val\"][\"accuracy\"]:.1f} test {100*d[\"test\"][\"accuracy\"]:.1f}')" "$3"; }
