#!/usr/bin/env bash
# bench/contact.sh - the contact benchmark of docs/benchmarks.md.
#
# Messages accepted per second through POST /api/v1/contact/messages, and
# delivered per second end to end to a local SMTP server, with CPU per
# message, on three set-ups: SQLite with the embedded queue, SQLite with
# Redis, and MariaDB with Redis. bench/contactbench does each run (one
# process: HTTP clients, the platform and an SMTP sink); each case runs
# ROUNDS times, round-robin, and the report gives medians. It goes to OUT
# as well as stdout. There is no peer: the figures are absolute.
#
# Redis: the script claims a free logical database the way the Go tests do
# (the key kerneltest:claim:<n> in database 0), empties it before each run
# and gives it back at the end. MariaDB: a database bench_contact_<pid> is
# made for each run and dropped.
#
# Usage (from anywhere in the repository):
#   bench/contact.sh                 # HEAD (a clean export), ~5 minutes
#   REV=worktree bench/contact.sh    # the working tree as it is
#   ROUNDS=1 N=300 bench/contact.sh  # a quick look
# Knobs (environment):
#   ROUNDS=3 N=1500 EMB_N=1000 (messages on the embedded queue) WARMUP=100 CLIENTS=8 CONC=10
#   MYSQL=auto|off  REDIS=127.0.0.1:6379  CPUS= (a taskset cpu list; default unpinned)
#   OUT=bench/results/contact-<UTC date>-<rev>.txt
set -euo pipefail

: "${ROUNDS:=3}" "${N:=1500}" "${EMB_N:=1000}" "${WARMUP:=100}" "${CLIENTS:=8}" "${CONC:=10}"
: "${MYSQL:=auto}" "${REDIS:=127.0.0.1:6379}" "${CPUS:=}" "${REV:=HEAD}"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$REV" = worktree ]; then
	TAG=worktree
else
	TAG=$(git -C "$ROOT" rev-parse --short=7 "$REV")
fi
OUT=${OUT:-$ROOT/bench/results/contact-$(date -u +%F)-$TAG.txt}
WORK=$(mktemp -d /tmp/contact-bench.XXXXXX)
RHOST=${REDIS%:*}
RPORT=${REDIS##*:}
CLAIM_TOKEN=contactbench-$$
RDB=

log() { printf '%s\n' "$*" >&2; }
die() {
	log "contact.sh: $*"
	exit 1
}
rcli() { timeout 10 redis-cli -h "$RHOST" -p "$RPORT" "$@"; }
cleanup() {
	if [ -n "$RDB" ]; then
		rcli -n "$RDB" FLUSHDB >/dev/null 2>&1 || true
		# Give the database back only if the claim is still ours.
		rcli EVAL "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0" \
			1 "kerneltest:claim:$RDB" "$CLAIM_TOKEN" >/dev/null 2>&1 || true
	fi
	timeout 10 mariadb -uroot -h127.0.0.1 -P3306 -e "DROP DATABASE IF EXISTS \`bench_contact_$$\`" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v redis-cli >/dev/null || die "redis-cli is missing (apt-get install -y redis-tools)"
[ "$(rcli ping 2>/dev/null || true)" = PONG ] || die "Redis does not answer at $REDIS"
for n in $(seq 15 -1 1); do
	if [ "$(rcli SET "kerneltest:claim:$n" "$CLAIM_TOKEN" NX EX 3600 2>/dev/null)" = OK ]; then
		RDB=$n
		break
	fi
done
[ -n "$RDB" ] || die "every Redis database 1-15 is claimed by running tests"
MYSQL_ON=0
if [ "$MYSQL" != off ] && timeout 5 mariadb -uroot -h127.0.0.1 -P3306 -e 'SELECT 1' >/dev/null 2>&1; then
	MYSQL_ON=1
elif [ "$MYSQL" != off ]; then
	log "MariaDB does not answer on 127.0.0.1:3306: its case is skipped"
fi
PIN=()
[ -n "$CPUS" ] && PIN=(taskset -c "$CPUS")

# ---------------------------------------------------------------- build
SRC=$ROOT
if [ "$REV" = worktree ]; then
	BUILT_FROM="working tree at $(git -C "$ROOT" rev-parse --short=12 HEAD)"
	[ -z "$(git -C "$ROOT" status --porcelain -- internal migrations go.mod go.sum)" ] || BUILT_FROM+=" + uncommitted changes"
else
	# The platform as committed: a shared working tree carries other
	# people's half-done edits.
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$ROOT" archive "$REV" | tar -x -C "$SRC" || die "cannot export $REV"
	rm -rf "$SRC/bench/contactbench" && mkdir -p "$SRC/bench" && cp -r "$ROOT/bench/contactbench" "$SRC/bench/"
	BUILT_FROM="commit $(git -C "$ROOT" rev-parse --short=12 "$REV") (clean export) + the working tree's bench/contactbench"
fi
log "building contactbench ($BUILT_FROM)"
(cd "$SRC" && CGO_ENABLED=0 timeout 600 go build -o "$WORK/contactbench" ./bench/contactbench) || die "build failed"

# name|description|contactbench arguments
CASES=("embedded|SQLite + embedded queue|-db sqlite")
CASES+=("sqlite-redis|SQLite + Redis|-db sqlite -redis $REDIS -redis-db $RDB")
[ "$MYSQL_ON" = 1 ] && CASES+=("mysql-redis|MariaDB + Redis|-db mysql -dsn root@tcp(127.0.0.1:3306)/bench_contact_$$ -redis $REDIS -redis-db $RDB")

kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1==k {print $2; exit}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "n/a"} else if (NR%2) {print a[(NR+1)/2]} else {printf "%.4g\n", (a[NR/2]+a[NR/2+1])/2}}'; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# bench NAME: one run, on an empty Redis database and a new MariaDB database.
bench() {
	local name=$1 n=$N args line
	[ "$name" = embedded ] && n=$EMB_N
	args=$(printf '%s\n' "${CASES[@]}" | awk -F'|' -v n="$name" '$1==n {print $3}')
	rcli -n "$RDB" FLUSHDB >/dev/null
	if [ "$name" = mysql-redis ]; then
		timeout 10 mariadb -uroot -h127.0.0.1 -P3306 -e "DROP DATABASE IF EXISTS \`bench_contact_$$\`;
			CREATE DATABASE \`bench_contact_$$\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	fi
	# shellcheck disable=SC2086
	if line=$(timeout 900 "${PIN[@]}" "$WORK/contactbench" $args -n "$n" -warmup "$WARMUP" -clients "$CLIENTS" \
		-concurrency "$CONC" 2>>"$WORK/$name.err"); then
		echo "$line load1=$(load1)" >>"$WORK/$name.runs"
		log "  $(printf '%-13s' "$name") accepted $(kv "$line" accepted_per_s)/s  delivered $(kv "$line" delivered_per_s)/s  cpu $(kv "$line" cpu_ms_per_msg) ms/msg  load $(load1)"
	else
		log "  $name FAILED: $line $(tail -3 "$WORK/$name.err")"
		echo "$line failed=1" >>"$WORK/$name.failed"
	fi
}

mkdir -p "$(dirname "$OUT")"
exec > >(tee "$OUT")
echo "# contact benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: nproc=$(nproc), cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), mem=$(awk '/^MemTotal/ {printf "%.0f MiB", $2/1024}' /proc/meminfo), load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "platform: $BUILT_FROM; $(go version | awk '{print $3}')"
echo "redis: $(rcli info server 2>/dev/null | awk -F: '/^redis_version/ {print $2}' | tr -d '\r') at $REDIS db $RDB;" \
	"mariadb: $([ "$MYSQL_ON" = 1 ] && timeout 5 mariadb -uroot -h127.0.0.1 -N -e 'SELECT VERSION()' 2>/dev/null || echo off)"
echo "settings: ROUNDS=$ROUNDS N=$N EMB_N=$EMB_N WARMUP=$WARMUP CLIENTS=$CLIENTS CONC=$CONC pinning: ${PIN[*]:-none}"
echo

for r in $(seq 1 "$ROUNDS"); do
	log "round $r of $ROUNDS"
	for c in "${CASES[@]}"; do bench "${c%%|*}"; done
done

col() {
	[ -f "$WORK/$1.runs" ] || { echo n/a; return; }
	while read -r l; do kv "$l" "$2"; done <"$WORK/$1.runs" | grep -v '^$' | median
}
row() { printf '%-26s %10s %11s %9s %9s %9s %9s %11s %9s\n' "$@"; }
echo "## $N e-mails ($EMB_N on the embedded queue) posted by $CLIENTS HTTP clients, $CONC workers, one SMTP provider; medians of $ROUNDS rounds"
row case "accepted/s" "delivered/s" "api p50" "api p99" "e2e p50" "e2e p99" "cpu ms/msg" "redis s"
for c in "${CASES[@]}"; do
	name=${c%%|*}
	row "$(cut -d'|' -f2 <<<"$c")" "$(col "$name" accepted_per_s)" "$(col "$name" delivered_per_s)" "$(col "$name" api_p50_ms)" \
		"$(col "$name" api_p99_ms)" "$(col "$name" e2e_p50_ms)" "$(col "$name" e2e_p99_ms)" "$(col "$name" cpu_ms_per_msg)" \
		"$(col "$name" redis_cpu_s)"
done
echo "(accepted/s: first request to last 202; delivered/s: first request to the last message at the SMTP sink, with"
echo " delivery running while the clients post; api: POST latency in ms; e2e: POST to arrival at the sink, in ms;"
echo " cpu ms/msg: the whole bench process (clients, platform, workers, sink) over the run, per message; the"
echo " database's CPU is not counted, Redis's is in 'redis s' per run)"
echo
echo "### every run"
for f in "$WORK"/*.runs "$WORK"/*.failed; do
	[ -f "$f" ] && cat "$f"
done
log "results in $OUT"
