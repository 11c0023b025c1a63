#!/usr/bin/env bash
# Runs every fuzz target for a while, one at a time, and prints for each
# its executions per second and its corpus: the committed seeds under the
# package's testdata/fuzz/ and what the fuzzer added in the Go build cache.
# Usage: bench/fuzz.sh [DURATION|COUNTx]   (default 5m each; scripts/test
# runs 20000x). With a duration, Go 1.26 can end a clean run with a bare
# "context deadline exceeded" and no input written (golang/go#75804): that
# is the toolchain, not a finding; a count avoids it.
# A failure stops the script; go test writes the input that failed under
# testdata/fuzz/<target>/: commit it, it is a regression test from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-5m}
targets=(
  ./sources/ldap:FuzzReadResponseAgainstGoASN1BER
  ./config:FuzzParse
  ./sources/file:FuzzRead
  ./licensing/controlhub:FuzzParse
  ./licensing:FuzzNormalisePhone
)
if [ "${FUZZ_ALL:-}" = 1 ]; then
  targets+=(./sources/ldap:FuzzParseResponse ./sources/ldap:FuzzPlainDN)
fi
cache=$(go env GOCACHE)/fuzz/$(go list -m)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
printf '%-50s %10s %12s %8s %8s\n' target seconds execs/s seeds cached
for t in "${targets[@]}"; do
  pkg=${t%%:*} name=${t##*:}
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" "$pkg" >"$log" 2>&1; then
    cat "$log" >&2
    echo "fuzz: $pkg $name failed; the input is under $pkg/testdata/fuzz/$name/" >&2
    exit 1
  fi
  # The last progress line: "fuzz: elapsed: 10s, execs: 123456 (12345/sec), ..."
  last=$(grep -o 'elapsed: [0-9hms.]*, execs: [0-9]*' "$log" | tail -1 || true)
  execs=${last##*execs: }
  secs=$({ grep -o 'ok .*[0-9.]*s$' "$log" || true; } | grep -o '[0-9.]*s$' | tr -d s || true)
  rate=$(awk -v e="${execs:-0}" -v s="${secs:-0}" 'BEGIN { if (s > 0) printf "%d", e / s; else print "?" }')
  seeds=$({ find "$pkg/testdata/fuzz/$name" -type f 2>/dev/null || true; } | wc -l)
  cached=$({ find "$cache/${pkg#./}/$name" -type f 2>/dev/null || true; } | wc -l)
  printf '%-50s %10s %12s %8s %8s\n' "${pkg#./} $name" "$secs" "$rate" "$seeds" "$cached"
done
