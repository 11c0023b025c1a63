#!/usr/bin/env bash
# Times plan and run over a synthetic directory of N users on the offline
# target. Usage: bench/pass.sh [N ...]   (default: 100000 1000000)
# Each pass prints its summary line: counts, elapsed, users/s, peak memory.
# STATE=postgres://user@host/db?sslmode=disable (password in PGPASSWORD or
# PGPASSFILE) keeps the state store in that PostgreSQL database instead of
# SQLite; give each size an empty database.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
go build -o bench/out/licensync ./cmd/licensync
for n in "${@:-100000 1000000}"; do
  for size in $n; do
    dir=bench/out/n$size
    rm -rf "$dir"
    go run ./bench/gen -n "$size" -out "$dir"
    if [ -n "${STATE:-}" ]; then
      sed -i "s|^state: .*|state: $STATE|" "$dir/licensync.yaml"
    fi
    # The first open seeds the org from CSV; time that apart from the passes.
    echo "== $size users: seed + plan"
    bench/out/licensync plan -c "$dir/licensync.yaml" --log-format json
    echo "== $size users: plan (org already seeded)"
    bench/out/licensync plan -c "$dir/licensync.yaml" --log-format json
    echo "== $size users: run"
    bench/out/licensync run -c "$dir/licensync.yaml" --log-format json
    echo "== $size users: second run (nothing to do)"
    bench/out/licensync run -c "$dir/licensync.yaml" --log-format json
  done
done
