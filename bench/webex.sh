#!/usr/bin/env bash
# The Webex target's request goals, measured against the Webex test server
# in one `go test` run of licensing/webex's benchmarks:
#   bench/webex.sh
# - whole passes over 100,000 users the server already holds provisioned:
#   a full pass (goal: at most 2,000 requests) and incremental passes with
#   k = 10 and k = 1,000 changed users (goal: at most k + inventory pages
#   + 10). The yardstick is what looking each user up would have cost in
#   the same pass: the users read plus the inventory pages.
# - 10,000 PATCHes against a server limited to 500 requests/s, the client
#   set at the limit and at twice it (goal: at least 95 % of the limit, at
#   most 1 % answered 429). The yardstick is the server's limit.
# Exits non-zero when a goal is not met.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/bench/out/webex
mkdir -p "$out"
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
go test -run '^$' -bench 'Pass100000Unchanged|Provision10000' -benchtime 1x ./licensing/webex | tee "$out/bench.txt"
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '
/^Benchmark/ {
	delete m
	for (i = 3; i < NF; i += 2) m[$(i + 1)] = $i
	name = $1
	sub(/-[0-9]+$/, "", name)
	sub(/^Benchmark[^\/]*\//, "", name)
	if ("requests/pass" in m) {
		ok = m["requests/pass"] <= m["bound/pass"]
		what = name == "full" ? "full pass, 100,000 unchanged users" : "incremental pass, k = " substr(name, 14)
		printf "| %s | %d requests: %d people pages, %d look-ups, %d inventory pages; %.2f s | one look-up per user: %d requests | at most %d | %s |\n",
			what, m["requests/pass"], m["people-pages/pass"], m["lookups/pass"], m["inventory-pages/pass"], m["s/pass"],
			m["lookup-each/pass"], m["bound/pass"], ok ? "met" : "NOT MET"
	} else if ("%limit" in m) {
		ok = m["%limit"] >= 95 && m["%429"] <= 1
		split(name, a, "_")
		printf "| 10,000 PATCHes, client rate %d req/s | %.0f req/s = %.1f %% of the limit, %.2f %% answered 429; %.1f s | the server limit: %d req/s | at least 95 %%, at most 1 %% 429 | %s |\n",
			a[2], m["req/s"], m["%limit"], m["%429"], m["s/pass"], m["limit-req/s"], ok ? "met" : "NOT MET"
	} else next
	rows++
	if (!ok) failed++
}
BEGIN {
	print "| figure | measured | yardstick, same run | goal | |"
	print "| --- | --- | --- | --- | --- |"
}
END {
	if (rows != 5) { print "expected 5 benchmark rows, found " rows > "/dev/stderr"; exit 2 }
	exit failed > 0
}' "$out/bench.txt"
