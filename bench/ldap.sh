#!/usr/bin/env bash
# Times the LDAP source against a real slapd holding N AD-like users
# (default 100000), next to ldapsearch paging through the same entries:
#   bench/ldap.sh [N]
# For each dialect (openldap, then ad):
# 1. ldapsearch -E pr=500/noprompt, the same filter, attributes and page
#    size as the source, its LDIF to /dev/null, then the source alone
#    (bench/ldapread), back to back, three times: time, CPU and peak memory
#    of each whole process, slapd's CPU while serving it, and their ratio
# 2. licensync plan end to end on the offline target
# Then an incremental pass after 100 users changed: it must read exactly 100.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
slapd=$(command -v slapd || echo /usr/sbin/slapd)
[ -x "$slapd" ] || { echo "slapd is missing: apt-get install -y slapd ldap-utils" >&2; exit 1; }
out=$PWD/bench/out/ldap
rm -rf "$out" && mkdir -p "$out/db"
trap 'kill "$(cat "$out/slapd.pid" 2>/dev/null)" 2>/dev/null || true' EXIT

go build -o "$out/licensync" ./cmd/licensync
go build -o "$out/ldapread" ./bench/ldapread
go run ./bench/gen -n "$n" -out "$out"
go run ./bench/ldapgen -in "$out/directory.csv" -out "$out/directory.ldif"

export LDAP_BENCH_PASSWORD="bench-$RANDOM$RANDOM"
port=38990
base=ou=people,dc=example,dc=com
cat > "$out/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include $PWD/testdata/demo/ldap/ad.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov
moduleload memberof
pidfile $out/slapd.pid
sizelimit unlimited
database mdb
suffix "dc=example,dc=com"
rootdn "cn=admin,dc=example,dc=com"
rootpw $LDAP_BENCH_PASSWORD
directory $out/db
maxsize 4294967296
index objectClass eq
index entryCSN,modifyTimestamp eq
overlay memberof
overlay syncprov
CONF
echo "== slapadd -q $n users"
/usr/bin/time -f "slapadd: %e s" "$(dirname "$slapd")/slapadd" -q -f "$out/slapd.conf" -l "$out/directory.ldif"
"$slapd" -f "$out/slapd.conf" -h "ldap://127.0.0.1:$port"
for _ in $(seq 100); do
  ldapsearch -x -H "ldap://127.0.0.1:$port" -b "" -s base >/dev/null 2>&1 && break
  sleep 0.1
done

cat > "$out/ldap.yaml" <<YAML
state: state/licensync.db
report_dir: reports
source:
  kind: ldap
  ldap:
    url: ldap://127.0.0.1:$port
    bind_dn: cn=admin,dc=example,dc=com
    bind_password: \${LDAP_BENCH_PASSWORD}
    base_dn: $base
    group_base_dn: ou=groups,dc=example,dc=com
    dialect: openldap
    page_size: 500
target:
  kind: offline
  offline: {path: state/org.db, seed: org}
templates:
  - name: calling
    groups: [Calling Users]
    licenses:
      - {name: Webex Calling - Professional, subscription: SUB-1}
YAML

# The openldap dialect reads group membership from the groups' member values
# (one entry with every member of Calling Users); the ad dialect from memberOf.
sed -e 's/dialect: openldap/dialect: ad/' -e 's#state/#state-ad/#g' "$out/ldap.yaml" > "$out/ad.yaml"
# What each dialect's source asks for, so ldapsearch reads the same bytes.
declare -A filter=([ldap]='(objectClass=inetOrgPerson)' [ad]='(&(objectCategory=person)(objectClass=user))')
declare -A attrs=(
  [ldap]="entryUUID mail displayName telephoneNumber cn memberOf userAccountControl pwdAccountLockedTime modifyTimestamp entryCSN"
  [ad]="objectGUID mail displayName telephoneNumber cn memberOf userAccountControl userPrincipalName uSNChanged")
# slapd's CPU time so far, in clock ticks (user + system).
slapd_ticks() { awk '{print $14 + $15}' "/proc/$(cat "$out/slapd.pid")/stat"; }
hz=$(getconf CLK_TCK)
for d in ldap ad; do
  # ldapsearch, untimed, to check it reads every user.
  # shellcheck disable=SC2086
  ldapsearch -x -LLL -H "ldap://127.0.0.1:$port" -D cn=admin,dc=example,dc=com -w "$LDAP_BENCH_PASSWORD" \
    -b "$base" -E pr=500/noprompt "${filter[$d]}" ${attrs[$d]} > "$out/ldapsearch.ldif"
  echo "ldapsearch entries: $(grep -c '^dn: ' "$out/ldapsearch.ldif")"
  # ldapsearch and the source alone, back to back, three times: each pair
  # prints the source's elapsed time over ldapsearch's, whole processes.
  # ldapsearch writes its LDIF to /dev/null, as the source writes nothing.
  for i in 1 2 3; do
    echo "== $d: ldapsearch -E pr=500/noprompt, then the source alone, run $i (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    t0=$(slapd_ticks)
    # shellcheck disable=SC2086
    /usr/bin/time -o "$out/ldapsearch.time" -f "%e %U %S %M" ldapsearch -x -LLL -H "ldap://127.0.0.1:$port" \
      -D cn=admin,dc=example,dc=com -w "$LDAP_BENCH_PASSWORD" -b "$base" -E pr=500/noprompt \
      "${filter[$d]}" ${attrs[$d]} > /dev/null
    t1=$(slapd_ticks)
    /usr/bin/time -o "$out/ldapread.time" -f "%e %U %S %M" \
      "$out/ldapread" -c "$out/$d.yaml" -want "$n" -save "$out/checkpoint-$d.json"
    t2=$(slapd_ticks)
    awk -v s="$(((t1 - t0) * 100 / hz))" '{printf "ldapsearch: %.2f s, %.2f s CPU, peak RSS %d KiB; slapd %.2f s CPU\n", $1, $2 + $3, $4, s / 100}' "$out/ldapsearch.time"
    awk -v s="$(((t2 - t1) * 100 / hz))" '{printf "source:     %.2f s, %.2f s CPU, peak RSS %d KiB; slapd %.2f s CPU\n", $1, $2 + $3, $4, s / 100}' "$out/ldapread.time"
    paste "$out/ldapread.time" "$out/ldapsearch.time" | awk '{printf "source / ldapsearch: %.2fx (goal: at most 1.0x)\n", $1 / $5}'
  done
  echo "== $d: licensync plan: seeds the offline org, then plans"
  (cd "$out" && ./licensync plan -c "$d.yaml" --log-format json | tail -1)
  for i in 1 2; do
    echo "== $d: licensync plan end to end (org already seeded), run $i"
    (cd "$out" && /usr/bin/time -f "plan: %e s, peak RSS %M KiB" ./licensync plan -c "$d.yaml" --log-format json | tail -1)
  done
done

echo "== change 100 users, then an incremental pass"
: > "$out/change.ldif"
for i in $(seq 0 $((n / 100)) $((n - 1)) | head -100); do
  printf 'dn: uid=u%07d,%s\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +1 646 555 %04d\n\n' "$i" "$base" $((i % 10000)) >> "$out/change.ldif"
done
ldapmodify -x -H "ldap://127.0.0.1:$port" -D cn=admin,dc=example,dc=com -w "$LDAP_BENCH_PASSWORD" -f "$out/change.ldif" > /dev/null
# slapd keeps no USNs: the incremental pass is the openldap dialect's.
"$out/ldapread" -c "$out/ldap.yaml" -since "$out/checkpoint-ldap.json" -want 100
