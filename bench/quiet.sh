#!/usr/bin/env bash
# A quiet incremental pass (nothing changed) over a 100,000-user directory,
# per source against its test server, LDAP against a real slapd, and the
# whole pass over 100,000 stored users:
#   bench/quiet.sh [passes]     (default: 10 passes per benchmark)
# Goal: under 1 s and under 50 requests. First the tests that assert the
# request counts (at two directory sizes, which must send the same), then
# the benchmarks, each of which measures its yardstick in the same run:
# one bare request to the same server (a page of one user; for LDAP a
# base-scope search of the rootDSE), timed the same way; for the whole pass,
# one SELECT COUNT(*) of the stored users. Exits non-zero when a goal is
# not met.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
slapd=$(command -v slapd || echo /usr/sbin/slapd)
[ -x "$slapd" ] || { echo "slapd is missing: apt-get install -y slapd ldap-utils (or run scripts/test)" >&2; exit 1; }
out=$PWD/bench/out/quiet
mkdir -p "$out"
go test -count=1 -run 'TestAQuiet' ./sources/graph ./sources/okta ./sources/ldap
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
{
	go test -run '^$' -bench 'Quiet' -benchtime "${n}x" ./sources/graph ./sources/okta ./sources/ldap
	go test -run '^$' -bench 'QuietIncrementalPass$' -benchtime "${n}x" ./pass
} | tee "$out/bench.txt"
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '
/^pkg:/ { pkg = $2; sub(/.*\//, "", pkg) }
/^Benchmark/ {
	delete m
	for (i = 3; i < NF; i += 2) m[$(i + 1)] = $i
	if (pkg == "pass") {
		if ($1 ~ /\/pass-[0-9]+$/) { passS = m["ns/op"] / 1e9; passReq = m["requests/op"] }
		else if ($1 ~ /count_of_users/) countS = m["ns/op"] / 1e9
		next
	}
	row(src[pkg], m["s/pass"], m["requests/pass"], m["bare-request-s"], "one bare request")
}
function row(what, s, req, yard, yardName,   ok) {
	ok = s != "" && req != "" && s < 1 && req < 50
	printf "| %s | %.3f ms | %d | %s: %.3f ms | under 1 s, under 50 | %s |\n", what, s * 1000, req, yardName, yard * 1000, ok ? "met" : "NOT MET"
	rows++
	if (!ok) failed++
}
BEGIN {
	src["graph"] = "Entra ID (Graph test server)"
	src["okta"] = "Okta (Okta test server)"
	src["ldap"] = "LDAP (real slapd, dialect openldap)"
	print "| quiet pass, 100,000 users | time a pass | requests | yardstick, same run | goal | |"
	print "| --- | ---: | ---: | ---: | --- | --- |"
}
END {
	row("whole pass (slice source, counting Webex target, SQLite store)", passS, passReq, countS, "SELECT COUNT(*) of the users")
	if (rows != 4) { print "expected 4 benchmark rows, found " rows > "/dev/stderr"; exit 2 }
	exit failed > 0
}' "$out/bench.txt"
