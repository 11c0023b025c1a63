#!/usr/bin/env bash
# Times a whole `licensync plan` over N synthetic users (file source, offline
# target) next to its floor, from the same run: bench/phonefloor reading the
# same directory file and only validating its N work phones with
# nyaruka/phonenumbers on all cores. Both are whole processes, timed by
# /usr/bin/time (elapsed, CPU, peak resident memory).
#   bench/plan.sh [N] [runs]     (default: 100000 users, 3 runs)
# The offline org is seeded by a first plan that is not timed: seeding
# stands in for the inventory the Webex service already holds. Then each
# run times the floor and the plan back to back and prints plan/floor.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
runs=${2:-3}
command -v /usr/bin/time >/dev/null || { echo "/usr/bin/time is missing: apt-get install -y time" >&2; exit 1; }
out=$PWD/bench/out/plan-$n
rm -rf "$out" && mkdir -p "$out"
go build -o "$out/licensync" ./cmd/licensync
go build -o "$out/phonefloor" ./bench/phonefloor
go run ./bench/gen -n "$n" -out "$out"
echo "== $n users: seed the offline org (not timed)"
(cd "$out" && ./licensync plan -c licensync.yaml --log-format json | tail -1)

# timed FILE CMD...: runs CMD under /usr/bin/time, its figures into FILE as
# "elapsed user system maxrss_kib".
timed() {
  local f=$1
  shift
  /usr/bin/time -o "$f" -f "%e %U %S %M" "$@"
}
show() { awk -v what="$1" '{printf "%-6s %6.2f s elapsed, %6.2f s CPU, peak RSS %4d MiB\n", what, $1, $2 + $3, $4 / 1024}' "$2"; }
for i in $(seq "$runs"); do
  echo "== $n users: floor, then plan, run $i (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  timed "$out/floor.time" "$out/phonefloor" "$out/directory.csv"
  (cd "$out" && timed plan.time ./licensync plan -c licensync.yaml --log-format json | tail -1)
  show floor "$out/floor.time"
  show plan "$out/plan.time"
  paste "$out/plan.time" "$out/floor.time" |
    awk '{printf "ratio  %.2fx elapsed (goal: at most 1.0x), %.2fx CPU\n", $1 / $5, ($2 + $3) / ($6 + $7)}'
done
