#!/usr/bin/env bash
# The encoders `myosem bench enrol` needs (about 40 min on a 2-core CPU, once):
#   runs/folds/3dc-{a,b,c}    3DC subject folds: every subject is tested by an encoder that never saw it
#   runs/folds/ciil-shift     trained on the CIIL training sessions (the shifted ones are scored)
#   runs/folds/myodisco-session  trained on MyoDisCo day 1 (day 2 is scored)
# Stage 1 (the text space) is the same for the three 3DC folds: it is trained once and copied.
# Usage: scripts/train-enrol-folds.sh [DATA_DIR]   (default ../shared/data); re-running resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data}"
train() { ./myosem -q train --data "$data" --max-windows-per-file 2000 --threads "${THREADS:-2}" "$@"; }
first=""
for fold in "a:1 4 7 10 13 14" "b:2 5 8 11 15 16" "c:3 6 9 12 17 18"; do
  name=${fold%%:*}; subjects=${fold#*:}; out=runs/folds/3dc-$name
  if [ -n "$first" ] && [ ! -e "$out/checkpoints/stage1.json" ]; then
    mkdir -p "$out/checkpoints" && cp -r "$first/text" "$out/" && cp "$first/checkpoints/stage1.json" "$out/checkpoints/"
  fi
  # shellcheck disable=SC2086  # the subjects are separate arguments
  train --protocol 3dc-user --test-subjects $subjects --out "$out"
  first=$out
done
train --protocol ciil-shift --out runs/folds/ciil-shift
train --protocol myodisco-session --out runs/folds/myodisco-session
