#!/usr/bin/env bash
# bench/helpdesk.sh - the helpdesk benchmark of docs/benchmarks.md.
#
# Ticket create and a filtered ticket list, side by side in one run, on:
#   - the platform on SQLite (embedded default: data dir in a temp dir,
#     embedded queue),
#   - the platform on MariaDB + Redis (a fresh database, Redis REDIS_DB),
#   - PocketBase v0.36.8 (bench/pocketbase, its own Go module) on SQLite,
#     with a tickets collection of the same fields and the same indexes as
#     the platform's helpdesk_tickets (read from the platform's SQLite
#     schema after its migrations, so they follow the platform's changes).
# Every server is started with its defaults (the platform's access log on,
# PocketBase's request log on) and pinned to SERVER_CPU; the load generator
# (bench/helpdeskbench) runs on LOADGEN_CPU. MariaDB and Redis are not
# pinned.
#
# Each server gets SEED tickets first (four in ten open, priorities at
# random), then:
#   list    GET status=open & priority=high, newest first (SORT), a page of
#           20, no total count; CONC requests in flight for DURATION s (50,
#           as asked, and 8, a load light enough to show latency);
#   create  POST one ticket with a requester (1000 distinct e-mails) and a
#           first message, CONC in flight for DURATION s. The platform finds
#           or makes the customer and writes the ticket, its first message,
#           a history row and its event; PocketBase does the same writes
#           through a hook in one transaction (bench/pocketbase/main.go);
#   create-bare  PocketBase's plain record create (the ticket alone), for
#           reference.
# All list rounds run before any create, so that every list reads the
# same seeded table. Each run has WARMUP s of load first, not measured.
# The report gives medians of ROUNDS rounds and the platform/PocketBase
# ratios, and goes to OUT as well as stdout.
#
# Usage (from anywhere in the repository):
#   bench/helpdesk.sh                    # the working tree, ~8 minutes
#   REV=HEAD bench/helpdesk.sh           # a clean export of a commit, with this harness
#   MYSQL=off ROUNDS=1 DURATION=5 bench/helpdesk.sh   # a quick look
# Knobs (environment):
#   ROUNDS=3 DURATION=10 WARMUP=2 CONC="50 8" (each level in turn; the first also seeds) SEED=10000 SORT=auto|updated|created
#   MYSQL=auto|off  REDIS=127.0.0.1:6379 REDIS_DB=12  SERVER_CPU=0 LOADGEN_CPU=1
#   BASE_PORT=18190 (three ports)  REV=  PROFILE=0|1 (perf profile of the platform on SQLite under each case)
#   OUT=bench/results/helpdesk-<UTC date>-<rev|worktree>.txt
set -euo pipefail

: "${ROUNDS:=3}" "${DURATION:=10}" "${WARMUP:=2}" "${CONC:=50 8}" "${SEED:=10000}" "${SORT:=auto}"
: "${MYSQL:=auto}" "${REDIS:=127.0.0.1:6379}" "${REDIS_DB:=12}" "${SERVER_CPU:=0}" "${LOADGEN_CPU:=1}"
: "${BASE_PORT:=18190}" "${REV:=}" "${PROFILE:=0}"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "$REV" ]; then
	OUT=${OUT:-$ROOT/bench/results/helpdesk-$(date -u +%F)-$(git -C "$ROOT" rev-parse --short=7 "$REV").txt}
else
	OUT=${OUT:-$ROOT/bench/results/helpdesk-$(date -u +%F)-worktree.txt}
fi
WORK=$(mktemp -d /tmp/helpdesk-bench.XXXXXX)
RHOST=${REDIS%:*}
RPORT=${REDIS##*:}
MYSQL_DB=bench_helpdesk_$$
MYSQL_CREATED=0
PIDS=()
ADMIN_EMAIL=admin@bench.local
ADMIN_PASSWORD=bench-password-0123

log() { printf '%s\n' "$*" >&2; }
die() {
	log "helpdesk.sh: $*"
	exit 1
}

# ours PID: the process is one of the binaries this run built.
ours() { case "$(readlink "/proc/$1/exe" 2>/dev/null)" in "$WORK"/*) return 0 ;; esac; return 1; }

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		if ours "$p"; then kill "$p" 2>/dev/null || true; fi
	done
	for p in "${PIDS[@]}"; do
		timeout 30 tail --pid="$p" -f /dev/null 2>/dev/null || { ours "$p" && kill -9 "$p" 2>/dev/null; } || true
	done
	if [ "$MYSQL_CREATED" = 1 ]; then
		timeout 10 mariadb -uroot -h127.0.0.1 -P3306 -e "DROP DATABASE IF EXISTS \`$MYSQL_DB\`" >/dev/null 2>&1 || true
		timeout 10 redis-cli -h "$RHOST" -p "$RPORT" -n "$REDIS_DB" --scan --pattern 'asynq:*' 2>/dev/null |
			xargs -r -n 500 redis-cli -h "$RHOST" -p "$RPORT" -n "$REDIS_DB" DEL >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	log "installing $2"
	if ! timeout 300 apt-get install -y "$2" >/dev/null 2>&1; then
		timeout 300 apt-get update >/dev/null 2>&1 || true
		timeout 300 apt-get install -y "$2" >/dev/null 2>&1 || die "cannot install $2"
	fi
}
need curl curl
need taskset util-linux
need sqlite3 sqlite3
[ "$PROFILE" = 1 ] && need perf linux-perf

PIN_SERVER=()
PIN_LOAD=()
if [ "$(nproc)" -ge 2 ]; then
	PIN_SERVER=(taskset -c "$SERVER_CPU")
	PIN_LOAD=(taskset -c "$LOADGEN_CPU")
fi
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $(seq "$BASE_PORT" $((BASE_PORT + 2))); do
	port_free "$p" || die "port $p is in use; set BASE_PORT"
done
P_SQLITE=$BASE_PORT
P_MYSQL=$((BASE_PORT + 1))
P_PB=$((BASE_PORT + 2))

MYSQL_ON=0
if [ "$MYSQL" != off ]; then
	if command -v mariadb >/dev/null 2>&1 && timeout 5 mariadb -uroot -h127.0.0.1 -P3306 -e 'SELECT 1' >/dev/null 2>&1 &&
		[ "$(timeout 5 redis-cli -h "$RHOST" -p "$RPORT" ping 2>/dev/null || true)" = PONG ]; then
		MYSQL_ON=1
	else
		log "MariaDB (127.0.0.1:3306) or Redis ($REDIS) does not answer: the MariaDB case is skipped"
	fi
fi

# ---------------------------------------------------------------- build
SRC=$ROOT
AT=$(git -C "$ROOT" rev-parse --short=12 "${REV:-HEAD}" 2>/dev/null || echo '?')
if [ -n "$REV" ]; then
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$ROOT" archive "$REV" | tar -x -C "$SRC" || die "cannot export $REV"
	BUILT_FROM="commit $AT (clean export)"
else
	BUILT_FROM="working tree at $AT"
	[ -z "$(git -C "$ROOT" status --porcelain -- cmd internal migrations go.mod go.sum 2>/dev/null)" ] ||
		BUILT_FROM+=" + uncommitted changes"
fi
log "building the platform ($BUILT_FROM), PocketBase and the load generator"
(cd "$SRC" && CGO_ENABLED=0 timeout 900 go build -o "$WORK/platform" ./cmd/platform) || die "platform build failed"
(cd "$ROOT/bench/pocketbase" && CGO_ENABLED=0 timeout 900 go build -o "$WORK/pbbench" .) || die "PocketBase build failed"
(cd "$ROOT" && CGO_ENABLED=0 timeout 600 go build -o "$WORK/helpdeskbench" ./bench/helpdeskbench) || die "helpdeskbench build failed"

# ---------------------------------------------------------------- servers
# wait_ready URL PID: polls until a 200; 60 s limit.
wait_ready() {
	local deadline=$(($(date +%s) + 60))
	while [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true)" != 200 ]; do
		kill -0 "$2" 2>/dev/null || return 1
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# start_platform NAME PORT [ENV...]: the platform with its defaults, from
# $WORK/NAME as data dir and cwd (so no configs/platform.yaml is read).
start_platform() {
	local name=$1 port=$2
	shift 2
	mkdir -p "$WORK/$name"
	(cd "$WORK/$name" && exec env PLATFORM_DATA_DIR="$WORK/$name" PLATFORM_HTTP_ADDR="127.0.0.1:$port" \
		PLATFORM_BOOTSTRAP_ADMIN_EMAIL="$ADMIN_EMAIL" PLATFORM_BOOTSTRAP_ADMIN_PASSWORD="$ADMIN_PASSWORD" "$@" \
		"${PIN_SERVER[@]}" "$WORK/platform" serve >"$WORK/$name.log" 2>&1) &
	PID=$!
	PIDS+=("$PID")
	wait_ready "http://127.0.0.1:$port/readyz" "$PID" || { tail -20 "$WORK/$name.log" >&2; die "$name did not become ready"; }
}

log "starting the servers"
start_platform sqlite "$P_SQLITE"
SQLITE_PID=$PID
# The tickets collection gets the indexes of helpdesk_tickets, with the
# columns renamed to PocketBase's fields; an index on a column PocketBase's
# collection does not have is left out and named in the report.
PB_INDEXES=
PB_SKIPPED=
while IFS='|' read -r name uniq cols; do
	mapped=$(sed -e 's/\btenant_id\b/tenant/g; s/\bcreated_at\b/created/g; s/\bupdated_at\b/updated/g' \
		-e 's/\brequester_id\b/requester/g; s/\bassignee_id\b/assignee/g; s/\bgroup_id\b/[[group]]/g' <<<"$cols")
	if grep -qE '\b[a-z_]+_(id|at)\b' <<<"$mapped"; then
		PB_SKIPPED+="$name($cols) "
		continue
	fi
	PB_INDEXES+="${name/helpdesk_/}|$uniq|$mapped"$'\n'
done < <(sqlite3 "file:$WORK/sqlite/platform.db?mode=ro" \
	"SELECT il.name, il.\"unique\", (SELECT group_concat(name, ', ') FROM (SELECT name FROM pragma_index_info(il.name) ORDER BY seqno))
	 FROM pragma_index_list('helpdesk_tickets') il WHERE il.origin = 'c' ORDER BY il.name")
[ -n "$PB_INDEXES" ] || die "read no indexes of helpdesk_tickets from the platform's database"

mkdir -p "$WORK/pb"
(cd "$WORK/pb" && exec env PB_BENCH_EMAIL="$ADMIN_EMAIL" PB_BENCH_PASSWORD="$ADMIN_PASSWORD" PB_BENCH_TICKET_INDEXES="$PB_INDEXES" \
	"${PIN_SERVER[@]}" "$WORK/pbbench" serve --http "127.0.0.1:$P_PB" --dir "$WORK/pb/pb_data" >"$WORK/pb.log" 2>&1) &
PB_PID=$!
PIDS+=("$PB_PID")
wait_ready "http://127.0.0.1:$P_PB/api/health" "$PB_PID" || { tail -20 "$WORK/pb.log" >&2; die "PocketBase did not start"; }

if [ "$MYSQL_ON" = 1 ]; then
	timeout 10 mariadb -uroot -h127.0.0.1 -P3306 -e "CREATE DATABASE \`$MYSQL_DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	MYSQL_CREATED=1
	MYENV=(PLATFORM_DATABASE_DRIVER=mysql "PLATFORM_DATABASE_DSN=root@tcp(127.0.0.1:3306)/$MYSQL_DB"
		"PLATFORM_REDIS_ADDR=$REDIS" "PLATFORM_REDIS_DB=$REDIS_DB")
	mkdir -p "$WORK/mysql"
	(cd "$WORK/mysql" && env "${MYENV[@]}" PLATFORM_DATA_DIR="$WORK/mysql" timeout 300 "$WORK/platform" migrate up) \
		>"$WORK/mysql-migrate.log" 2>&1 || { tail -20 "$WORK/mysql-migrate.log" >&2; die "migrate up on MariaDB failed"; }
	start_platform mysql "$P_MYSQL" "${MYENV[@]}"
	MYSQL_PID=$PID
	MARIADB_PID=$(pgrep -xo mariadbd || pgrep -xo mysqld || true)
fi

# ---------------------------------------------------------------- set-up and seed
LG=("${PIN_LOAD[@]}" "$WORK/helpdeskbench")
# target NAME: the helpdeskbench arguments of a server; setup fills them in.
declare -A ARGS SRVPIDS
setup() {
	local name=$1 target=$2 port=$3 out
	out=$(timeout 60 "${LG[@]}" -target "$target" -base "http://127.0.0.1:$port" setup) || die "set-up of $name failed"
	local tok tenant customer
	tok=$(sed -n 's/.*token=\([^ ]*\).*/\1/p' <<<"$out")
	tenant=$(sed -n 's/.*tenant=\([^ ]*\).*/\1/p' <<<"$out")
	customer=$(sed -n 's/.*customer=\([^ ]*\).*/\1/p' <<<"$out")
	ARGS[$name]="-target $target -base http://127.0.0.1:$port -token $tok -tenant $tenant -customer ${customer:-none}"
}
setup sqlite platform "$P_SQLITE"
SRVPIDS[sqlite]=$SQLITE_PID
setup pb pocketbase "$P_PB"
SRVPIDS[pb]=$PB_PID
SERVERS=(sqlite)
if [ "$MYSQL_ON" = 1 ]; then
	setup mysql platform "$P_MYSQL"
	SRVPIDS[mysql]="$MYSQL_PID${MARIADB_PID:+,$MARIADB_PID}"
	SERVERS+=(mysql)
fi
SERVERS+=(pb)

for s in "${SERVERS[@]}"; do
	log "seeding $s with $SEED tickets"
	t0=$(date +%s%N)
	# shellcheck disable=SC2086
	timeout 900 "${LG[@]}" ${ARGS[$s]} seed -n "$SEED" -c "${CONC%% *}" >/dev/null || die "seeding $s failed"
	log "  $(((($(date +%s%N) - t0) / 1000000))) ms"
done

# The seed's solved tickets queue rating e-mails (sent through the log
# provider that setup made); let the platforms finish that work before any
# run, so that no run measures it.
queued() {
	local q="SELECT COUNT(*) FROM kernel_jobs WHERE state IN ('pending', 'enqueued')"
	case $1 in
	sqlite) sqlite3 "file:$WORK/sqlite/platform.db?mode=ro" "$q" 2>/dev/null || echo 1 ;;
	mysql) timeout 10 mariadb -uroot -h127.0.0.1 -N "$MYSQL_DB" -e "$q" 2>/dev/null || echo 1 ;;
	esac
}
for s in sqlite mysql; do
	[[ " ${SERVERS[*]} " == *" $s "* ]] || continue
	t0=$(date +%s)
	while [ "$(queued "$s")" != 0 ]; do
		[ $(($(date +%s) - t0)) -lt 300 ] || die "the $s platform's queue did not empty in 300 s after the seed"
		sleep 1
	done
	log "$s: queue empty $(($(date +%s) - t0)) s after the seed"
done

# The list's order: updated_at when the platform's list sorts by it (the
# seed's PATCHes made it differ from created_at), else created_at; newest
# first either way, and PocketBase sorts the same.
if [ "$SORT" = auto ]; then
	SORT=created
	# shellcheck disable=SC2086
	if timeout 30 "${LG[@]}" ${ARGS[sqlite]} -sort updated probe >/dev/null 2>"$WORK/probe.err"; then SORT=updated; fi
fi
log "the list sorts by $SORT, newest first"

# ---------------------------------------------------------------- runs
load1() { cut -d' ' -f1 /proc/loadavg; }
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1==k {print $2; exit}'; }

# bench SERVER CASE CONC: one run; appends its line to $WORK/SERVER.CASE@CONC.
bench() {
	local s=$1 c=$2 n=$3 line
	# shellcheck disable=SC2086
	line=$(timeout $((DURATION + WARMUP + 60)) "${LG[@]}" ${ARGS[$s]} -sort "$SORT" run -case "$c" -c "$n" \
		-d "${DURATION}s" -warmup "${WARMUP}s" -pids "${SRVPIDS[$s]}") || die "$s $c failed: $line"
	echo "$line load1=$(load1)" >>"$WORK/$s.$c@$n"
	log "  $(printf '%-7s %-15s' "$s" "$c@$n") $(kv "$line" rps) req/s  p50 $(kv "$line" p50_ms) ms  p99 $(kv "$line" p99_ms) ms  cpu $(kv "$line" cpu0_us_per_req) us/req  errors $(kv "$line" errors)  load $(load1)"
	[ "$(kv "$line" errors)" = 0 ] || log "    first error: $(sed -n 's/.*first_error=//p' <<<"$line")"
}

# profile CASE: a perf profile of the platform on SQLite under one more run.
profile() {
	local c=$1
	# shellcheck disable=SC2086
	timeout $((DURATION + WARMUP + 60)) "${LG[@]}" ${ARGS[sqlite]} -sort "$SORT" run -case "$c" -c "${CONC%% *}" \
		-d "$((DURATION + 2))s" -warmup 1s >/dev/null &
	local lg=$!
	sleep 2
	timeout $((DURATION + 30)) perf record -F 499 -g -o "$WORK/perf-$c.data" -p "$SQLITE_PID" -- sleep "$DURATION" >/dev/null 2>&1 || true
	wait "$lg" || true
}

for c in list create; do
	for r in $(seq 1 "$ROUNDS"); do
		log "$c, round $r of $ROUNDS"
		for n in $CONC; do
			for s in "${SERVERS[@]}"; do bench "$s" "$c" "$n"; done
			if [ "$c" = create ]; then bench pb create-bare "$n"; fi
		done
	done
	[ "$PROFILE" = 1 ] && profile "$c"
done

# ---------------------------------------------------------------- report
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "n/a"} else if (NR%2) {print a[(NR+1)/2]} else {printf "%.4g\n", (a[NR/2]+a[NR/2+1])/2}}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 == 0 || b+0 == 0) print "n/a"; else printf "%.2f\n", a/b }'; }
col() {
	[ -f "$WORK/$1.$2" ] || { echo n/a; return; }
	while read -r l; do kv "$l" "$3"; done <"$WORK/$1.$2" | grep -v '^$' | median
}
row() { printf '%-34s %-16s %8s %8s %8s %10s %10s %12s\n' "$@"; }
declare -A DESC=([sqlite]="platform, SQLite" [mysql]="platform, MariaDB + Redis" [pb]="PocketBase v0.36.8, SQLite")

mkdir -p "$(dirname "$OUT")"
{
	echo "# helpdesk benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: nproc=$(nproc), cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), mem=$(awk '/^MemTotal/ {printf "%.0f MiB", $2/1024}' /proc/meminfo), kernel=$(uname -r)"
	echo "platform: $BUILT_FROM; $(go version | awk '{print $3}'); PocketBase $(awk '/pocketbase\/pocketbase /{print $2}' "$ROOT/bench/pocketbase/go.mod")"
	echo "mariadb: $([ "$MYSQL_ON" = 1 ] && timeout 5 mariadb -uroot -h127.0.0.1 -N -e 'SELECT VERSION()' 2>/dev/null || echo off); redis: $REDIS db $REDIS_DB"
	echo "settings: ROUNDS=$ROUNDS DURATION=${DURATION}s WARMUP=${WARMUP}s CONC=\"$CONC\" SEED=$SEED SORT=$SORT; servers ${PIN_SERVER[*]:-unpinned}, load generator ${PIN_LOAD[*]:-unpinned}"
	echo "PocketBase tickets indexes: $(sed "/^$/d" <<<"$PB_INDEXES" | paste -sd ";")"
	[ -z "$PB_SKIPPED" ] || echo "platform indexes left out (columns PocketBase's collection does not have): $PB_SKIPPED"
	echo
	echo "## medians of $ROUNDS rounds; cpu: the server's CPU time per request (MariaDB's separately)"
	row server case "req/s" "p50 ms" "p99 ms" "cpu us/req" "db us/req" "x PocketBase"
	for c in $(for k in list create create-bare; do for n in $CONC; do echo "$k@$n"; done; done); do
		for s in "${SERVERS[@]}"; do
			[ -f "$WORK/$s.$c" ] || continue
			rps=$(col "$s" "$c" rps)
			x=$(ratio "$rps" "$(col pb "${c/-bare/}" rps)")
			[ "$s" = pb ] && x=-
			row "${DESC[$s]}" "$c" "$rps" "$(col "$s" "$c" p50_ms)" "$(col "$s" "$c" p99_ms)" "$(col "$s" "$c" cpu0_us_per_req)" \
				"$(col "$s" "$c" cpu1_us_per_req)" "$x"
		done
	done
	echo "(x PocketBase: req/s over PocketBase's on the same case; create-bare is PocketBase's plain record create)"
	echo
	echo "### target: at least 1.5x PocketBase's req/s, p99 under 50 ms"
	for s in sqlite mysql; do
		[ -f "$WORK/$s.list@${CONC%% *}" ] || continue
		for c in $(for k in list create; do for n in $CONC; do echo "$k@$n"; done; done); do
			echo "${DESC[$s]}, $c: $(ratio "$(col "$s" "$c" rps)" "$(col pb "$c" rps)")x PocketBase, p99 $(col "$s" "$c" p99_ms) ms (PocketBase $(col pb "$c" p99_ms) ms)"
		done
	done
	echo
	echo "### every run"
	for f in "$WORK"/*.list@* "$WORK"/*.create@* "$WORK"/*.create-bare@*; do
		[ -f "$f" ] && cat "$f"
	done
	if [ "$PROFILE" = 1 ]; then
		for c in list create; do
			[ -f "$WORK/perf-$c.data" ] || continue
			echo
			echo "### perf, platform on SQLite, $c: inclusive (children) share, top 45"
			perf report -i "$WORK/perf-$c.data" --children --sort symbol --stdio -g none 2>/dev/null | grep '%' | head -45
			echo "### perf, platform on SQLite, $c: self time, top 20"
			perf report -i "$WORK/perf-$c.data" --no-children --sort symbol --stdio -g none 2>/dev/null | grep '%' | head -20
		done
	fi
} | tee "$OUT"
log "results in $OUT"
