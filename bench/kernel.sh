#!/usr/bin/env bash
# bench/kernel.sh - the kernel benchmark of docs/benchmarks.md.
#
# Compares an authenticated GET /api/v1/auth/me on the platform with the same
# path on a bare echo v4 handler (bench/bareecho), on the same machine, in the
# same run, alternating A/B round by round, and prints requests/s, p50, p99
# and the platform/bare ratios as medians. Also measures the time from exec
# to the first 200 on /readyz and the idle RSS, on SQLite with the embedded
# queue, and, when they answer on 127.0.0.1, on MariaDB + Redis.
#
# Everything listens on 127.0.0.1 only. Every step has a time limit. Temp
# data dirs, the MariaDB database it creates and the processes it starts are
# removed on exit.
#
# Usage (from anywhere in the repository):
#   bench/kernel.sh
# Knobs (environment):
#   ROUNDS=5       A/B rounds for the throughput comparison
#   DURATION=10    seconds per wrk run
#   CONNS=50       wrk connections
#   READY_RUNS=5   start-to-ready repetitions per case
#   IDLE_WAIT=5    seconds idle before reading VmRSS
#   MYSQL=auto     auto|off  (MariaDB root, no password, 127.0.0.1:3306 + Redis 127.0.0.1:6379)
#   PROFILE=0      1: record a perf profile of the platform under load (needs perf)
#   SERVER_CPU=0 LOADGEN_CPU=1   cores for taskset (when the machine has 2+)
#   BASE_PORT=18080 REDIS_DB=13   (the Redis database the MariaDB run uses)
#   REV=           a commit to build the platform from (git archive), instead of the working tree
#   PLATFORM_BIN=  a prebuilt platform binary to measure instead (to try a change)
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
READY_RUNS=${READY_RUNS:-5}
IDLE_WAIT=${IDLE_WAIT:-5}
MYSQL=${MYSQL:-auto}
PROFILE=${PROFILE:-0}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
BASE_PORT=${BASE_PORT:-18080}
REDIS_DB=${REDIS_DB:-13}
REV=${REV:-}
PLATFORM_BIN=${PLATFORM_BIN:-}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/platform-bench.XXXXXX)
ADMIN_EMAIL=admin@bench.local
ADMIN_PASSWORD=bench-password-0123
MYSQL_DB=platform_bench_$$
MYSQL_CREATED=0
PIDS=()

log() { printf '%s\n' "$*" >&2; }
die() { log "kernel.sh: $*"; exit 1; }

# ours PID: the process is still one of the binaries this run built, so that a
# recycled PID is never signalled.
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
		timeout 10 mariadb -uroot -h127.0.0.1 -P3306 -e "DROP DATABASE IF EXISTS \`$MYSQL_DB\`" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() {
	local bin=$1 pkg=$2
	command -v "$bin" >/dev/null 2>&1 && return 0
	log "installing $pkg"
	if ! timeout 300 apt-get install -y "$pkg" >/dev/null 2>&1; then
		timeout 300 apt-get update >/dev/null 2>&1 || true
		timeout 300 apt-get install -y "$pkg" >/dev/null 2>&1 || die "cannot install $pkg"
	fi
}
need wrk wrk
need curl curl
need taskset util-linux

NCPU=$(nproc)
PIN_SERVER=()
PIN_LOAD=()
if [ "$NCPU" -ge 2 ]; then
	PIN_SERVER=(taskset -c "$SERVER_CPU")
	PIN_LOAD=(taskset -c "$LOADGEN_CPU")
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $(seq "$BASE_PORT" $((BASE_PORT + 4))); do
	port_free "$p" || die "port $p is in use; set BASE_PORT"
done
P_BARE=$BASE_PORT
P_PLAT=$((BASE_PORT + 1))
P_PLAT_LOG=$((BASE_PORT + 2))
P_MYSQL=$((BASE_PORT + 3))
P_READY=$((BASE_PORT + 4))

# ---------------------------------------------------------------- build
log "building with CGO_ENABLED=0"
PLATFORM_SRC=$ROOT
if [ -n "$REV" ]; then
	# A clean copy of one commit, so that uncommitted edits are not measured.
	mkdir -p "$WORK/src"
	git -C "$ROOT" archive "$REV" | tar -x -C "$WORK/src" || die "cannot export $REV"
	PLATFORM_SRC=$WORK/src
	BUILT_FROM="commit $(git -C "$ROOT" rev-parse --short=12 "$REV") (clean export)"
else
	BUILT_FROM="working tree at $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo '?')"
	if [ -n "$(git -C "$ROOT" status --porcelain -- cmd internal migrations go.mod go.sum 2>/dev/null)" ]; then
		BUILT_FROM="$BUILT_FROM + uncommitted changes"
	fi
fi
if [ -n "$PLATFORM_BIN" ]; then
	cp "$PLATFORM_BIN" "$WORK/platform" || die "cannot copy $PLATFORM_BIN"
	BUILT_FROM="prebuilt $PLATFORM_BIN"
else
	(cd "$PLATFORM_SRC" && CGO_ENABLED=0 timeout 600 go build -o "$WORK/platform" ./cmd/platform) || die "platform build failed"
fi
(cd "$ROOT" && CGO_ENABLED=0 timeout 600 go build -o "$WORK/bareecho" ./bench/bareecho) || die "bareecho build failed"

# ---------------------------------------------------------------- helpers
now_ns() { date +%s%N; }

# wait_ready PORT PID: polls /readyz every ~5 ms until 200; 20 s limit.
wait_ready() {
	local port=$1 pid=$2 deadline=$(($(date +%s) + 20)) code
	while :; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/readyz" || true)
		[ "$code" = 200 ] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.005
	done
}

# start_platform NAME PORT DATADIR ACCESSLOG [ENV...]: starts in the
# background, sets PID and READY_MS (exec to first 200 on /readyz).
start_platform() {
	local name=$1 port=$2 dir=$3 alog=$4
	shift 4
	mkdir -p "$dir"
	local t0
	t0=$(now_ns)
	# cwd is $WORK, so no configs/platform.yaml is picked up: defaults + env only.
	(cd "$WORK" && exec env PLATFORM_DATA_DIR="$dir" PLATFORM_HTTP_ADDR="127.0.0.1:$port" \
		PLATFORM_BOOTSTRAP_ADMIN_EMAIL="$ADMIN_EMAIL" PLATFORM_BOOTSTRAP_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
		PLATFORM_HTTP_ACCESS_LOG="$alog" PLATFORM_SECURITY_ACCESS_TOKEN_TTL=6h "$@" \
		${PIN_START:+${PIN_SERVER[@]}} "$WORK/platform" serve >>"$WORK/$name.log" 2>&1) &
	PID=$!
	PIDS+=("$PID")
	wait_ready "$port" "$PID" || { tail -20 "$WORK/$name.log" >&2; die "$name did not become ready"; }
	READY_MS=$((($(now_ns) - t0) / 1000000))
}

stop() {
	local pid=$1 p keep=()
	if ours "$pid"; then kill "$pid" 2>/dev/null || true; fi
	timeout 30 tail --pid="$pid" -f /dev/null 2>/dev/null || { ours "$pid" && kill -9 "$pid" 2>/dev/null; } || true
	for p in "${PIDS[@]}"; do
		[ "$p" = "$pid" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS=$(getconf CLK_TCK)

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
rss_line() { awk '/^(VmRSS|RssAnon|RssFile|VmHWM):/ {printf "%s %s kB  ", $1, $2}' "/proc/$1/status"; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "n/a"} else if (NR%2) {print a[(NR+1)/2]} else {printf "%.4g\n", (a[NR/2]+a[NR/2+1])/2}}'; }

# to_ms VALUE: wrk latency ("812.00us", "1.23ms", "1.01s") in ms.
to_ms() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.3f\n", n }'; }

login() {
	local port=$1 body
	body=$(curl -s --max-time 10 -X POST -H 'Content-Type: application/json' \
		-d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" "http://127.0.0.1:$port/api/v1/auth/login")
	printf '%s' "$body" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}

# run_wrk LABEL PORT TOKEN PID: one wrk run; appends "rps p50 p99 cpu_us_per_request"
# to $WORK/LABEL.txt. The CPU time is the server's utime+stime over the run,
# which the other tenants of a shared machine disturb far less than rps.
run_wrk() {
	local label=$1 port=$2 tok=$3 pid=$4 out c0 c1
	c0=$(cpu_ticks "$pid")
	out=$(timeout $((DURATION + 30)) "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
		-H "Authorization: Bearer $tok" "http://127.0.0.1:$port/api/v1/auth/me") || die "wrk failed on $label"
	c1=$(cpu_ticks "$pid")
	printf '%s\n' "$out" >>"$WORK/$label.wrk"
	if grep -q 'Non-2xx' <<<"$out"; then
		printf '%s\n' "$out" >&2
		die "$label answered non-2xx responses"
	fi
	local rps p50 p99
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
	p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
	local n cpu
	n=$(awk '/requests in/ {print $1}' <<<"$out")
	cpu=$(awk -v c=$((c1 - c0)) -v t="$TICKS" -v n="$n" 'BEGIN { printf "%.1f\n", c / t * 1e6 / n }')
	echo "$rps $p50 $p99 $cpu $(cut -d' ' -f1 /proc/loadavg)" >>"$WORK/$label.txt"
	log "  $(printf '%-18s' "$label") rps=$rps p50=${p50}ms p99=${p99}ms server_cpu=${cpu}us/req load=$(cut -d' ' -f1 /proc/loadavg)"
}

col() { awk -v c="$2" '{print $c}' "$WORK/$1.txt" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a/b }'; }
runs() { tr '\n' ' ' <"$WORK/$1.txt" | sed 's/ $//'; }
row() { printf '%-36s %9s %8s %8s %11s %11s %13s\n' "$@"; }

# ready_series LABEL N DATADIR|fresh [ENV...]: N starts; READY in $WORK/LABEL.txt,
# startup_ms from the log in $WORK/LABEL-startup.txt; RSS after IDLE_WAIT
# on the first start into RSS_KB and RSS_LINE.
ready_series() {
	local label=$1 n=$2 dir=$3 i d
	shift 3
	: >"$WORK/$label.txt"
	: >"$WORK/$label-startup.txt"
	for i in $(seq 1 "$n"); do
		d=$dir
		[ "$dir" = fresh ] && d="$WORK/$label-$i"
		start_platform "$label-$i" "$P_READY" "$d" false "$@"
		echo "$READY_MS" >>"$WORK/$label.txt"
		grep -o '"startup_ms":[0-9]*' "$WORK/$label-$i.log" | tail -1 | cut -d: -f2 >>"$WORK/$label-startup.txt"
		if [ "$i" = 1 ]; then
			local c0
			c0=$(cpu_ticks "$PID")
			sleep "$IDLE_WAIT"
			RSS_KB=$(rss_kb "$PID")
			RSS_LINE="$(rss_line "$PID")idle CPU: $(awk -v c=$(($(cpu_ticks "$PID") - c0)) -v t="$TICKS" -v w="$IDLE_WAIT" 'BEGIN { printf "%.0f ms/s", c / t * 1000 / w }')"
		fi
		stop "$PID"
		log "  $label #$i: ${READY_MS} ms"
	done
}

# ---------------------------------------------------------------- machine
echo "# kernel benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: nproc=$NCPU, cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)," \
	"mem=$(awk '/^MemTotal/ {printf "%.0f MiB", $2/1024}' /proc/meminfo), kernel=$(uname -r), load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "platform: $BUILT_FROM"
echo "go: $(go version | awk '{print $3, $4}'), wrk: $(wrk -v 2>&1 | awk 'NR==1 {print $2}'), binary: $(($(stat -c %s "$WORK/platform") / 1048576)) MiB"
echo "throughput pinning: servers ${PIN_SERVER[*]:-unpinned}, wrk ${PIN_LOAD[*]:-unpinned} (wrk -t1 -c$CONNS -d${DURATION}s --latency)"
echo "start-to-ready and idle RSS: unpinned"
echo

# ---------------------------------------------------------------- start-to-ready and idle RSS (SQLite)
log "start-to-ready: bare echo baseline, platform version, then the platform on SQLite"
: >"$WORK/ready-bare.txt"
for i in $(seq 1 "$READY_RUNS"); do
	t0=$(now_ns)
	"$WORK/bareecho" -addr "127.0.0.1:$P_READY" >/dev/null 2>&1 &
	PID=$!
	PIDS+=("$PID")
	wait_ready "$P_READY" "$PID" || die "bareecho did not start"
	echo $((($(now_ns) - t0) / 1000000)) >>"$WORK/ready-bare.txt"
	if [ "$i" = 1 ]; then
		sleep "$IDLE_WAIT"
		RSS_BARE=$(rss_kb "$PID")
	fi
	stop "$PID"
done
: >"$WORK/version.txt"
for i in $(seq 1 "$READY_RUNS"); do
	t0=$(now_ns)
	(cd "$WORK" && timeout 20 ./platform version >/dev/null)
	echo $((($(now_ns) - t0) / 1000000)) >>"$WORK/version.txt"
done
INITS=$( (cd "$WORK" && GODEBUG=inittrace=1 timeout 20 ./platform version 2>&1 >/dev/null) |
	awk '$1=="init" {printf "%s %s %s %s\n", $5, $2, $8, $9}' | sort -gr | head -3 |
	awk '{printf "%s%s %s ms, %.1f MB", (NR>1 ? "; " : ""), $2, $1, $3/1e6}')

ready_series ready-fresh "$READY_RUNS" fresh
RSS_FRESH=$RSS_KB RSS_FRESH_LINE=$RSS_LINE
ready_series ready-existing "$READY_RUNS" "$WORK/ready-fresh-1"
RSS_EXISTING=$RSS_KB RSS_EXISTING_LINE=$RSS_LINE

echo "## start-to-ready: exec to the first 200 on /readyz, polled every ~5 ms with curl; median of $READY_RUNS"
echo "bare echo (poll overhead baseline) : $(median <"$WORK/ready-bare.txt") ms  (runs: $(runs ready-bare))"
echo "'platform version' (exec+init+exit): $(median <"$WORK/version.txt") ms  (runs: $(runs version))"
echo "  slowest package inits (GODEBUG=inittrace=1): $INITS"
echo "platform, SQLite, fresh data dir   : $(median <"$WORK/ready-fresh.txt") ms  (runs: $(runs ready-fresh); in-process startup_ms: $(runs ready-fresh-startup))"
echo "platform, SQLite, existing data dir: $(median <"$WORK/ready-existing.txt") ms  (runs: $(runs ready-existing); in-process startup_ms: $(runs ready-existing-startup))"
echo "## idle RSS, ${IDLE_WAIT} s after ready, before any request"
echo "bare echo                          : $((RSS_BARE / 1024)) MiB"
echo "platform, SQLite, fresh data dir   : $((RSS_FRESH / 1024)) MiB  ($RSS_FRESH_LINE)"
echo "platform, SQLite, existing data dir: $((RSS_EXISTING / 1024)) MiB  ($RSS_EXISTING_LINE)"
echo

# ---------------------------------------------------------------- servers for the throughput runs
log "starting the servers for the throughput runs"
"${PIN_SERVER[@]}" "$WORK/bareecho" -addr "127.0.0.1:$P_BARE" >"$WORK/bare.log" 2>&1 &
BARE_PID=$!
PIDS+=("$BARE_PID")
wait_ready "$P_BARE" "$BARE_PID" || die "bareecho did not start"

PIN_START=1 start_platform plat "$P_PLAT" "$WORK/plat" false
PLAT_PID=$PID
PIN_START=1 start_platform plat-log "$P_PLAT_LOG" "$WORK/plat-log" true
PLAT_LOG_PID=$PID

TOK=$(login "$P_PLAT")
TOK_LOG=$(login "$P_PLAT_LOG")
if [ -z "$TOK" ] || [ -z "$TOK_LOG" ]; then die "login failed"; fi
curl -sf --max-time 5 -H "Authorization: Bearer $TOK" "http://127.0.0.1:$P_PLAT/api/v1/auth/me" >/dev/null || die "GET /api/v1/auth/me failed"
ME_BYTES=$(curl -s --max-time 5 -H "Authorization: Bearer $TOK" "http://127.0.0.1:$P_PLAT/api/v1/auth/me" | wc -c)
BARE_BYTES=$(curl -s --max-time 5 "http://127.0.0.1:$P_BARE/api/v1/auth/me" | wc -c)
sleep "$IDLE_WAIT"
RSS_AFTER_LOGIN=$(rss_kb "$PLAT_PID")

MYSQL_ON=0
if [ "$MYSQL" != off ] && command -v mariadb >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 &&
	timeout 5 mariadb -uroot -h127.0.0.1 -P3306 -e 'SELECT 1' >/dev/null 2>&1 &&
	[ "$(timeout 5 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null || true)" = PONG ]; then
	MYSQL_ON=1
fi

if [ "$MYSQL_ON" = 1 ]; then
	log "MariaDB and Redis answer: creating database $MYSQL_DB"
	timeout 10 mariadb -uroot -h127.0.0.1 -P3306 -e "CREATE DATABASE \`$MYSQL_DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	MYSQL_CREATED=1
	MYENV=(PLATFORM_DATABASE_DRIVER=mysql "PLATFORM_DATABASE_DSN=root@tcp(127.0.0.1:3306)/$MYSQL_DB"
		PLATFORM_REDIS_ADDR=127.0.0.1:6379 "PLATFORM_REDIS_DB=$REDIS_DB")
	t0=$(now_ns)
	(cd "$WORK" && env "${MYENV[@]}" PLATFORM_DATA_DIR="$WORK/my" timeout 120 ./platform migrate up) >"$WORK/my-migrate.log" 2>&1 ||
		{ cat "$WORK/my-migrate.log" >&2; die "migrate up on MariaDB failed"; }
	MY_MIGRATE_MS=$((($(now_ns) - t0) / 1000000))
	ready_series ready-mysql "$READY_RUNS" "$WORK/my" "${MYENV[@]}"
	RSS_MYSQL=$RSS_KB RSS_MYSQL_LINE=$RSS_LINE
	PIN_START=1 start_platform plat-mysql "$P_MYSQL" "$WORK/my" false "${MYENV[@]}"
	PLAT_MYSQL_PID=$PID
	TOK_MYSQL=$(login "$P_MYSQL")
	[ -n "$TOK_MYSQL" ] || die "login on MariaDB failed"
fi

# ---------------------------------------------------------------- throughput
log "warm-up"
warm() { timeout 30 "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d3s -H "Authorization: Bearer $2" "http://127.0.0.1:$1/api/v1/auth/me" >/dev/null; }
warm "$P_BARE" "$TOK"
warm "$P_PLAT" "$TOK"
warm "$P_PLAT_LOG" "$TOK_LOG"
[ "$MYSQL_ON" = 1 ] && warm "$P_MYSQL" "$TOK_MYSQL"

log "A/B rounds: $ROUNDS x ${DURATION}s per server"
for r in $(seq 1 "$ROUNDS"); do
	log "round $r"
	run_wrk bare "$P_BARE" "$TOK" "$BARE_PID"
	run_wrk platform "$P_PLAT" "$TOK" "$PLAT_PID"
	run_wrk bare-2 "$P_BARE" "$TOK" "$BARE_PID"
	run_wrk platform-accesslog "$P_PLAT_LOG" "$TOK_LOG" "$PLAT_LOG_PID"
	if [ "$MYSQL_ON" = 1 ]; then
		run_wrk bare-3 "$P_BARE" "$TOK" "$BARE_PID"
		run_wrk platform-mariadb "$P_MYSQL" "$TOK_MYSQL" "$PLAT_MYSQL_PID"
	fi
done
RSS_AFTER_LOAD=$(rss_kb "$PLAT_PID")
HWM_AFTER_LOAD=$(awk '/^VmHWM:/ {print $2}' "/proc/$PLAT_PID/status")

# table SERVERLABEL NAME BARELABEL
table_row() {
	local s=$1 name=$2 b=$3
	row "$name" "$(col "$s" 1)" "$(col "$s" 2)" "$(col "$s" 3)" "$(col "$s" 4)" \
		"$(ratio "$(col "$s" 1)" "$(col "$b" 1)")" "$(ratio "$(col "$s" 3)" "$(col "$b" 3)")"
}
echo "## GET /api/v1/auth/me: medians of $ROUNDS rounds; each platform run directly follows its own bare run"
echo "response bodies: platform $ME_BYTES bytes, bare $BARE_BYTES bytes"
row server rps p50_ms p99_ms cpu_us/req "rps/bare" "p99/bare"
table_row bare "bare echo" bare
table_row platform "platform, SQLite, access log off" bare
table_row bare-2 "bare echo" bare-2
table_row platform-accesslog "platform, SQLite, access log on" bare-2
echo "cost factors (bare / platform), target < 3x:"
echo "  access log off: rps $(ratio "$(col bare 1)" "$(col platform 1)")x, p99 $(ratio "$(col platform 3)" "$(col bare 3)")x, server CPU per request $(ratio "$(col platform 4)" "$(col bare 4)")x"
echo "  access log on : rps $(ratio "$(col bare-2 1)" "$(col platform-accesslog 1)")x, p99 $(ratio "$(col platform-accesslog 3)" "$(col bare-2 3)")x, server CPU per request $(ratio "$(col platform-accesslog 4)" "$(col bare-2 4)")x"
echo "per-round rps, bare / platform / bare / platform+log (1-minute load average at the end of each run):"
paste -d' ' <(awk '{print $1, "(" $5 ")"}' "$WORK/bare.txt") <(awk '{print $1, "(" $5 ")"}' "$WORK/platform.txt") \
	<(awk '{print $1, "(" $5 ")"}' "$WORK/bare-2.txt") <(awk '{print $1, "(" $5 ")"}' "$WORK/platform-accesslog.txt") | sed 's/^/  /'
echo "platform RSS (SQLite): $((RSS_AFTER_LOGIN / 1024)) MiB idle ${IDLE_WAIT} s after one login, $((RSS_AFTER_LOAD / 1024)) MiB after the load, peak (VmHWM) $((HWM_AFTER_LOAD / 1024)) MiB"
echo

if [ "$MYSQL_ON" = 1 ]; then
	echo "## MariaDB $(timeout 5 mariadb -uroot -h127.0.0.1 -N -e 'SELECT VERSION()' 2>/dev/null) + Redis $(timeout 5 redis-cli -h 127.0.0.1 info server 2>/dev/null | awk -F: '/^redis_version/ {print $2}' | tr -d '\r') (their servers are not pinned and share the 2 cores)"
	echo "migrate up on an empty database: ${MY_MIGRATE_MS} ms"
	echo "start-to-ready on the migrated database: $(median <"$WORK/ready-mysql.txt") ms  (runs: $(runs ready-mysql); in-process startup_ms: $(runs ready-mysql-startup))"
	echo "idle RSS, ${IDLE_WAIT} s after ready: $((RSS_MYSQL / 1024)) MiB  ($RSS_MYSQL_LINE)"
	row server rps p50_ms p99_ms cpu_us/req "rps/bare" "p99/bare"
	table_row bare-3 "bare echo" bare-3
	table_row platform-mariadb "platform, MariaDB+Redis, log off" bare-3
	echo "cost factors (bare / platform): rps $(ratio "$(col bare-3 1)" "$(col platform-mariadb 1)")x, p99 $(ratio "$(col platform-mariadb 3)" "$(col bare-3 3)")x, server CPU per request $(ratio "$(col platform-mariadb 4)" "$(col bare-3 4)")x (mysqld's CPU not counted)"
	echo
else
	echo "## MariaDB + Redis: not reachable on 127.0.0.1:3306 / :6379 (or MYSQL=off), skipped"
	echo
fi

if [ "$PROFILE" = 1 ]; then
	need perf linux-perf
	log "profiling the platform (SQLite, access log off) under load with perf"
	"${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"$((DURATION + 3))s" -H "Authorization: Bearer $TOK" \
		"http://127.0.0.1:$P_PLAT/api/v1/auth/me" >/dev/null &
	WRK_PID=$!
	sleep 1
	timeout $((DURATION + 30)) perf record -F 999 -g -o "$WORK/perf.data" -p "$PLAT_PID" -- sleep "$DURATION" >/dev/null 2>&1 || true
	wait "$WRK_PID" || true
	echo "## perf, platform under load: inclusive share of samples (children), selected frames"
	perf report -i "$WORK/perf.data" --children --stdio --sort symbol -g none 2>/dev/null |
		awk '/^ +[0-9.]+%/ {printf "%8s %s\n", $1, $4}' |
		grep -E ' (net/http.\(\*conn\).serve|.*security.*Authenticate.func1|.*security.*handleMe|.*security.*\(\*Service\).Me|.*AuthenticateToken|gorm.io/gorm.\(\*DB\).Take|gorm.io/gorm.Scan|.*sqlite3Prepare|.*Xsqlite3_step|.*jwt/v5.\(\*Parser\).ParseWithClaims|.*jwt/v5.\(\*Parser\).ParseUnverified|.*echo/v4.\(\*context\).JSON|net/http.\(\*conn\).readRequest|net/http.\(\*response\).finishRequest|runtime.gcBgMarkWorker|runtime.bgscavenge|runtime.mallocgc|github.com/google/uuid.NewV7|.*prometheus.\(\*HistogramVec\).WithLabelValues|.*audit.WithMeta|.*echo/v4.\(\*Router\).Find|entry_SYSCALL_64_after_hwframe)$' |
		head -40
fi
