#!/bin/sh
# States per second of `explore --trace` on a committed recorded trace (sqlite3, a commit with
# synchronous=FULL; 520 power-loss states), by checker kind, in one run so the ratios compare
# like with like on a noisy machine:
#   noop-server   a persistent checker that answers ok at once: writing the states out, plus
#                 the protocol; the floor every other row stands on
#   true          /bin/true once per state: adds a fork and exec per state
#   python-serve  the example's Python checker, persistent (--persistent)
#   sh-sqlite3    the example's shell checker once per state (sh, grep and sqlite3)
#   python-once   the same Python checker started once per state
# Usage: benches/explore-trace.sh [FAULTLINE] [JOBS]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
faultline=${1:-$here/target/release/faultline}
jobs=${2:-2}
trace=$here/fuzz/corpus/trace_parse/recorded-sqlite-full.json
example=$here/examples/recorded/sqlite-full
rate() { # name, args...
  name=$1; shift
  line=$("$faultline" explore --trace "$trace" --model power-loss --jobs "$jobs" "$@" 2>&1 >/dev/null | grep 'states checked in')
  echo "$line" | sed -n "s/.*checked in \([0-9.]*\) s (\([0-9]*\) states\/s.*/$name \2 \1/p"
}
{
  rate noop-server --persistent --checker "sh -c 'while read -r l; do echo ok; done'"
  rate true --checker true
  rate python-serve --persistent --checker "python3 $example/check.py"
  rate sh-sqlite3 --checker "sh $example/check.sh {stdout}"
  rate python-once --checker "sh -c 'printf \"%s\t%s\t%s\t%s\t%s\n\" {dir} {stdout} {finished} {moment} {state} | python3 $example/check.py | grep -qx ok'"
} | awk 'BEGIN { printf "%-13s %10s %9s %18s\n", "checker", "states/s", "seconds", "of noop-server" }
         NR == 1 { base = $2 }
         { printf "%-13s %10d %9.2f %17.3fx\n", $1, $2, $3, $2 / base }'
