#!/bin/sh
# Records one example program and explores its crash states with its checker.
# Usage: examples/recorded/explore.sh NAME [MODEL [FAULTLINE]]
#   NAME: a directory here (sed, sqlite-full, ...); MODEL: process-crash or power-loss (default);
#   FAULTLINE: the faultline binary (default: faultline on PATH).
# Each example has setup.sh (makes the directory the program starts from, in the current
# directory), program.sh (what is recorded; it acknowledges on $FAULTLINE_ACK_FD) and
# check.sh (the checker, run inside each crash state with the acknowledgements file as $1).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
name=$1
model=${2:-power-loss}
faultline=${3:-faultline}
[ -d "$here/$name" ] || { echo "no example '$name'; examples: $(ls -d "$here"/*/ | xargs -n1 basename | tr '\n' ' ')" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/faultline-example-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/data"
(cd "$work/data" && sh "$here/$name/setup.sh")
(cd "$work/data" && "$faultline" record --out "$work/trace.json" -- sh "$here/$name/program.sh")
"$faultline" explore --trace "$work/trace.json" --checker "sh $here/$name/check.sh {stdout}" \
  --model "$model"
