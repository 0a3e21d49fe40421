#!/usr/bin/env bash
# Idempotent setup: creates .venv beside this repository and installs vskd into it.
#   bash scripts/setup.sh          runtime only (enough for `vskd demo`)
#   bash scripts/setup.sh --dev    plus the test extras (pytest, hypothesis, pyts, torchdistill)
# A second call with nothing changed returns in about a second (a stamp file keyed by pyproject.toml).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VSKD_VENV:-$root/.venv}"
extra=""
[[ "${1:-}" == "--dev" ]] && extra="dev"
py="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
  echo "[setup] creating $venv"
  "$py" -m venv "$venv"
fi
hash="$(cat "$root/pyproject.toml" "$root/scripts/setup.sh" | sha256sum | cut -c1-16)"
stamp="$venv/.vskd-setup-$hash-${extra:-base}"
# the dev install includes the base one
if [[ -f "$stamp" || ( -z "$extra" && -f "$venv/.vskd-setup-$hash-dev" ) ]]; then
  exit 0
fi
echo "[setup] installing vskd${extra:+[$extra]} into $venv (first run: torch is large, this takes minutes)"
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
# torch/torchvision first, pinned to the pair that imports together on these machines
# (see DEVELOPERS.md); a newer pair that is already installed is kept.
if ! "$venv/bin/python" -c "import torch, torchvision" >/dev/null 2>&1; then
  "$venv/bin/python" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
fi
"$venv/bin/python" -m pip install -q -e "$root${extra:+[$extra]}"
# stamps of other variants are stale now
rm -f "$venv"/.vskd-setup-* && touch "$stamp"
echo "[setup] done"
