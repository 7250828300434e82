#!/usr/bin/env bash
# Reproducibility check: the main command, same profile, dataset and seed, from two workdirs.
# Every checkpoint both runs made must have the same weights (sha256 in its sidecar) and the two
# tables must be byte-identical. A workdir that already holds a run (say the series' `runs/`) is
# reused as it is; a missing one is trained from scratch.
#
#     RECDEF_DATA=/path/to/data bash scripts/same_seed_twice.sh cpu mnist runs /tmp/fresh
#
# Any further arguments are profile overrides for both runs (the main command's --set):
#     bash scripts/same_seed_twice.sh smoke mnist /tmp/a /tmp/b data.n_test=60
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 PROFILE DATASET WORKDIR_A WORKDIR_B [KEY=VALUE ...]  (e.g. cpu mnist runs /tmp/fresh)" >&2
  exit 2
fi
profile=$1 dataset=$2 a=$3 b=$4
shift 4
for w in "$a" "$b"; do
  python -m reconstruction_defense.cli.run --profile "$profile" --dataset "$dataset" --workdir "$w" --results "$w/table" \
    --set "$@"
done
python - "$a" "$b" <<'EOF'
import json, sys
from pathlib import Path

from reconstruction_defense.training.loops import machine

print("trained with", machine())

a, b = map(Path, sys.argv[1:])
sha = lambda w: {p.name: json.loads(p.read_text())["sha256"] for p in (w / "checkpoints").glob("*.json")}
shared = sorted(set(sha(a)) & set(sha(b)))
differ = [n for n in shared if sha(a)[n] != sha(b)[n]]
tables = sorted(p.name for p in (b / "table").glob("*.csv"))
unequal = [t for t in tables if (a / "table" / t).read_bytes() != (b / "table" / t).read_bytes()]
print(f"{len(shared)} checkpoints in both, {len(differ)} with different weights {differ}")
print(f"{len(tables)} tables, {len(unequal)} not byte-identical {unequal}")
sys.exit(1 if differ or unequal or not shared or not tables else 0)
EOF
