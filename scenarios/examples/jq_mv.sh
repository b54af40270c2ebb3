#!/bin/sh
# The shell idiom: jq into a temp file, then mv it over the original. Atomic for readers and
# kills (mv is a rename), but nothing is fsynced, so a power cut can undo or empty the update.
# Usage: jq_mv.sh PATH WRITER VERSION
set -e
jq -c --argjson w "$2" --argjson s "$3" '.writer = $w | .seq = $s' "$1" > "$1.tmp"
mv "$1.tmp" "$1"
