#!/usr/bin/env bash
# bench/jobs.sh - the jobs-queue benchmark of docs/benchmarks.md.
#
# End-to-end jobs per second and the latency from enqueue to the start of an
# empty handler, side by side in one run: raw asynq v0.26, the platform's
# queue (a direct enqueue) and the jobs module (Publish in a transaction,
# the outbox path), on the same Redis with SQLite and with MariaDB, the
# platform on its embedded in-process Redis, and Gearman (Debian's gearmand
# with its Redis-backed queue), driven by bench/jobsbench and by the gearman
# command-line tools. Each case runs ROUNDS times, round-robin; the report
# gives medians and ratios to raw asynq, and goes to OUT as well as stdout.
#
# Two measurements per case:
#   throughput  N jobs enqueued as fast as PRODUCERS goroutines go, with
#               CONC workers: jobs/s from the first enqueue to the last start.
#               Its latencies are those of a backlog, not of the queue.
#   latency     LAT_N jobs paced at LAT_RATE jobs/s, below every system's
#               capacity: p50/p99 from enqueue to start.
#
# Everything listens on 127.0.0.1. Redis database REDIS_DB (0) is shared:
# only asynq:* keys and gearmand's _gear_-<function>-* keys are deleted.
# gearmand, the MariaDB database and temp dirs are removed on exit.
#
# Usage (from anywhere in the repository):
#   bench/jobs.sh                      # the working tree, ~8 minutes
#   REV=HEAD bench/jobs.sh             # the kernel of a commit (clean export), this harness
#   ROUNDS=1 N=3000 bench/jobs.sh      # a quick look
# Knobs (environment):
#   ROUNDS=3 N=6000 EMB_N=1000 (jobs on the embedded queue, which is slower)
#   PRODUCERS=4 CONC=10 WARMUP=500 LAT_RATE=50 LAT_N=200
#   MYSQL=auto|off  GEARMAN=auto|off  EMBEDDED=auto|off  PROFILE=1|0
#   REDIS=127.0.0.1:6379 REDIS_DB=0 DSN=root@tcp(127.0.0.1:3306)/  (a database bench_jobs_<pid> is made)
#   CPUS=       a taskset cpu list for jobsbench, gearmand and the gearman tools (default: unpinned)
#   REV=        build the platform from this commit (git archive) with the working tree's bench/jobsbench
#   OUT=bench/results/jobs-<UTC date>-<REV or worktree>.txt  PROF_DIR=/tmp/jobs-bench-profiles (CPU profiles and the binary)
set -euo pipefail

: "${ROUNDS:=3}" "${N:=6000}" "${EMB_N:=1000}" "${PRODUCERS:=4}" "${CONC:=10}" "${WARMUP:=500}"
: "${LAT_RATE:=50}" "${LAT_N:=200}" "${MYSQL:=auto}" "${GEARMAN:=auto}" "${EMBEDDED:=auto}" "${PROFILE:=1}"
: "${REDIS:=127.0.0.1:6379}" "${REDIS_DB:=0}" "${DSN:=root@tcp(127.0.0.1:3306)/}" "${CPUS:=}" "${REV:=}"
: "${PROF_DIR:=/tmp/jobs-bench-profiles}"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "$REV" ]; then
	OUT=${OUT:-$ROOT/bench/results/jobs-$(date -u +%F)-$(git -C "$ROOT" rev-parse --short=7 "$REV").txt}
else
	OUT=${OUT:-$ROOT/bench/results/jobs-$(date -u +%F)-worktree.txt}
fi
WORK=$(mktemp -d /tmp/jobs-bench.XXXXXX)
RHOST=${REDIS%:*}
RPORT=${REDIS##*:}
MYSQL_DB=bench_jobs_$$
GFUNC=jobsbench_$$
GEARMAND_PID=

log() { printf '%s\n' "$*" >&2; }
die() {
	log "jobs.sh: $*"
	exit 1
}

rcli() { timeout 10 redis-cli -h "$RHOST" -p "$RPORT" -n "$REDIS_DB" "$@"; }

# del_keys PATTERN: deletes the matching keys of REDIS_DB, and only those.
del_keys() {
	rcli --scan --pattern "$1" 2>/dev/null | xargs -r -n 500 redis-cli -h "$RHOST" -p "$RPORT" -n "$REDIS_DB" DEL >/dev/null 2>&1 || true
}

cleanup() {
	if [ -n "$GEARMAND_PID" ] && [ "$(readlink "/proc/$GEARMAND_PID/exe" 2>/dev/null)" = "$(command -v gearmand)" ]; then
		kill "$GEARMAND_PID" 2>/dev/null || true
		timeout 10 tail --pid="$GEARMAND_PID" -f /dev/null 2>/dev/null || kill -9 "$GEARMAND_PID" 2>/dev/null || true
	fi
	del_keys "_gear_-$GFUNC*"
	del_keys "asynq:*"
	timeout 10 mariadb -uroot -h127.0.0.1 -P3306 -e "DROP DATABASE IF EXISTS \`$MYSQL_DB\`" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# install_pkgs PKG...: installs packages, updating the package lists once if that fails.
install_pkgs() {
	log "installing $*"
	timeout 300 apt-get install -y "$@" >/dev/null 2>&1 && return 0
	timeout 300 apt-get update >/dev/null 2>&1 || true
	timeout 300 apt-get install -y "$@" >/dev/null 2>&1
}
has() { command -v "$1" >/dev/null 2>&1; }
has taskset || install_pkgs util-linux || die "cannot install util-linux"
has redis-cli || install_pkgs redis-tools || die "cannot install redis-tools"
PIN=()
[ -n "$CPUS" ] && PIN=(taskset -c "$CPUS")

# ---------------------------------------------------------------- services
if [ "$(rcli ping 2>/dev/null || true)" != PONG ]; then
	if [ "$REDIS" = 127.0.0.1:6379 ] && command -v redis-server >/dev/null; then
		log "starting Redis"
		mkdir -p /var/lib/redis /var/log/redis
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
		for _ in $(seq 50); do [ "$(rcli ping 2>/dev/null || true)" = PONG ] && break; sleep 0.1; done
	fi
	[ "$(rcli ping 2>/dev/null || true)" = PONG ] || die "Redis does not answer at $REDIS"
fi
MYSQL_ON=0
if [ "$MYSQL" != off ]; then
	if ! timeout 5 mariadb -uroot -h127.0.0.1 -P3306 -e 'SELECT 1' >/dev/null 2>&1 && [ -x /usr/sbin/mariadbd ]; then
		log "starting MariaDB"
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
		for _ in $(seq 100); do timeout 5 mariadb -uroot -h127.0.0.1 -P3306 -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
	fi
	if timeout 5 mariadb -uroot -h127.0.0.1 -P3306 -e 'SELECT 1' >/dev/null 2>&1; then
		MYSQL_ON=1
	else
		log "MariaDB does not answer on 127.0.0.1:3306: the MariaDB cases are skipped"
	fi
fi
GEARMAN_ON=0
if [ "$GEARMAN" != off ]; then
	if { has gearmand && has gearman; } || install_pkgs gearman-job-server gearman-tools; then
		GEARMAN_ON=1
	else
		log "cannot install gearman-job-server/gearman-tools: the Gearman cases are skipped"
	fi
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ "$GEARMAN_ON" = 1 ]; then
	GPORT=
	for p in $(seq 4731 4790); do
		if port_free "$p"; then
			GPORT=$p
			break
		fi
	done
	[ -n "$GPORT" ] || die "no free port for gearmand in 4731-4790"
	# -t 2: two I/O threads for two cores. The Redis queue keeps every
	# background job in Redis (database 0) until a worker completes it.
	"${PIN[@]}" gearmand -L 127.0.0.1 -p "$GPORT" -t 2 -q redis --redis-server "$RHOST" --redis-port "$RPORT" \
		--log-file "$WORK/gearmand.log" --verbose WARNING >"$WORK/gearmand.out" 2>&1 &
	GEARMAND_PID=$!
	for _ in $(seq 100); do port_free "$GPORT" || break; sleep 0.05; done
	port_free "$GPORT" && die "gearmand did not start: $(tail -5 "$WORK/gearmand.out" "$WORK/gearmand.log" 2>/dev/null)"
fi

# ---------------------------------------------------------------- build
SRC=$ROOT
AT=$(git -C "$ROOT" rev-parse --short=12 "${REV:-HEAD}" 2>/dev/null || echo '?')
if [ -z "$REV" ]; then
	BUILT_FROM="working tree at $AT"
	[ -z "$(git -C "$ROOT" status --porcelain -- internal migrations go.mod go.sum 2>/dev/null)" ] || BUILT_FROM+=" + uncommitted changes under internal/"
else
	# The platform as committed, measured with this harness.
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$ROOT" archive "$REV" | tar -x -C "$SRC" || die "cannot export $REV"
	rm -rf "$SRC/bench/jobsbench" && mkdir -p "$SRC/bench" && cp -r "$ROOT/bench/jobsbench" "$SRC/bench/"
	BUILT_FROM="commit $AT (clean export) + the working tree's bench/jobsbench"
fi
log "building jobsbench ($BUILT_FROM)"
(cd "$SRC" && CGO_ENABLED=0 timeout 600 go build -o "$WORK/jobsbench" ./bench/jobsbench) || die "jobsbench build failed"
"$WORK/jobsbench" -h >/dev/null 2>&1 || true
# A package that panics at init (a half-done edit elsewhere) fails here, not mid-run.
timeout 60 "$WORK/jobsbench" -mode nothing >/dev/null 2>"$WORK/probe.err" || grep -q 'mode must be' "$WORK/probe.err" ||
	die "jobsbench does not start: $(head -5 "$WORK/probe.err")"

# ---------------------------------------------------------------- cases
# name|description|jobsbench arguments; the platform cases use -db and -redis.
CASES=("asynq|raw asynq, Redis|-mode asynq -redis $REDIS -redis-db $REDIS_DB")
# The platform serves three weighted queues; asynq on the same three does
# the same dequeue work, and is the like-for-like peer.
CASES+=("asynq-weighted|raw asynq, Redis, the platform's 3 weighted queues|-mode asynq -weighted -redis $REDIS -redis-db $REDIS_DB")
[ "$GEARMAN_ON" = 1 ] && CASES+=("gearman|Gearman, gearmand + Redis queue (Go client)|-mode gearman -gearman 127.0.0.1:$GPORT -gearman-func $GFUNC")
CASES+=("direct-sqlite|platform direct, SQLite + Redis|-mode direct -db sqlite -redis $REDIS -redis-db $REDIS_DB")
CASES+=("outbox-sqlite|platform outbox, SQLite + Redis|-mode outbox -db sqlite -redis $REDIS -redis-db $REDIS_DB")
if [ "$MYSQL_ON" = 1 ]; then
	CASES+=("direct-mysql|platform direct, MariaDB + Redis|-mode direct -db mysql -dsn ${DSN%/}/$MYSQL_DB -redis $REDIS -redis-db $REDIS_DB")
	CASES+=("outbox-mysql|platform outbox, MariaDB + Redis|-mode outbox -db mysql -dsn ${DSN%/}/$MYSQL_DB -redis $REDIS -redis-db $REDIS_DB")
fi
if [ "$EMBEDDED" != off ]; then
	CASES+=("direct-embedded|platform direct, SQLite + embedded queue|-mode direct -db sqlite")
	CASES+=("outbox-embedded|platform outbox, SQLite + embedded queue|-mode outbox -db sqlite")
fi

# kv LINE KEY: the value of KEY=... in a jobsbench line.
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1==k {print $2; exit}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "n/a"} else if (NR%2) {print a[(NR+1)/2]} else {printf "%.4g\n", (a[NR/2]+a[NR/2+1])/2}}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 == 0 || b+0 == 0) print "n/a"; else printf "%.2f\n", a/b }'; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# bench NAME KIND N [extra args]: one jobsbench run; appends its line to
# $WORK/NAME.KIND.
bench() {
	local name=$1 kind=$2 n=$3 args line
	shift 3
	args=$(printf '%s\n' "${CASES[@]}" | awk -F'|' -v n="$name" '$1==n {print $3}')
	# shellcheck disable=SC2086
	if line=$(timeout 600 "${PIN[@]}" "$WORK/jobsbench" $args -n "$n" -warmup "$WARMUP" -producers "$PRODUCERS" \
		-concurrency "$CONC" -timeout 240s "$@" 2>>"$WORK/$name.err"); then
		echo "$line load1=$(load1)" >>"$WORK/$name.$kind"
		log "  $(printf '%-16s %-4s' "$name" "$kind") $(kv "$line" jobs_per_s) jobs/s  p50 $(kv "$line" p50_ms) ms  p99 $(kv "$line" p99_ms) ms  cpu $(kv "$line" cpu_us_per_job) us/job  load $(load1)"
	else
		log "  $name $kind FAILED: $line $(tail -3 "$WORK/$name.err")"
		echo "$line failed=1" >>"$WORK/$name.failed"
	fi
}

# gearman_cli N: the gearman tools' own figure: N background jobs from
# `seq | gearman -n -b`, drained by CONC `gearman -w -c` workers.
gearman_cli() {
	local n=$1 f=${GFUNC}_cli t0 t1 i share pids=()
	t0=$(date +%s%N)
	for i in $(seq 0 $((CONC - 1))); do
		share=$((n / CONC + (i < n % CONC ? 1 : 0)))
		timeout 300 "${PIN[@]}" gearman -p "$GPORT" -w -f "$f" -c "$share" >/dev/null 2>>"$WORK/gearman-cli.err" &
		pids+=($!)
	done
	seq 1 "$n" | timeout 300 "${PIN[@]}" gearman -p "$GPORT" -n -b -f "$f" 2>>"$WORK/gearman-cli.err" || log "  gearman-cli enqueue failed"
	local enq=$(($(date +%s%N) - t0)) ok=1
	for i in "${pids[@]}"; do wait "$i" || ok=0; done
	t1=$(date +%s%N)
	if [ "$ok" = 1 ]; then
		local line
		line=$(awk -v n="$n" -v w=$((t1 - t0)) -v e="$enq" -v c="$CONC" 'BEGIN { printf "mode=gearman-cli store=none redis=gearmand n=%d producers=1 conc=%d rate=0 jobs_per_s=%.0f wall_s=%.3f enqueue_s=%.3f", n, c, n / (w / 1e9), w / 1e9, e / 1e9 }')
		echo "$line load1=$(load1)" >>"$WORK/gearman-cli.tput"
		log "  $(printf '%-16s %-4s' gearman-cli tput) $(kv "$line" jobs_per_s) jobs/s  load $(load1)"
	else
		log "  gearman-cli FAILED: $(tail -3 "$WORK/gearman-cli.err")"
		del_keys "_gear_-${f}*"
	fi
}

# ---------------------------------------------------------------- header
mkdir -p "$(dirname "$OUT")"
exec > >(tee "$OUT")
echo "# jobs-queue benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: nproc=$(nproc), cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), mem=$(awk '/^MemTotal/ {printf "%.0f MiB", $2/1024}' /proc/meminfo), kernel=$(uname -r), load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "platform: $BUILT_FROM; $(go version | awk '{print $3}')"
echo "redis: $(rcli info server 2>/dev/null | awk -F: '/^redis_version/ {print $2}' | tr -d '\r') at $REDIS db $REDIS_DB;" \
	"mariadb: $([ "$MYSQL_ON" = 1 ] && timeout 5 mariadb -uroot -h127.0.0.1 -N -e 'SELECT VERSION()' 2>/dev/null || echo off);" \
	"gearmand: $([ "$GEARMAN_ON" = 1 ] && gearmand --version 2>/dev/null | awk 'NF {print $2; exit}' || echo off)"
echo "settings: ROUNDS=$ROUNDS N=$N EMB_N=$EMB_N PRODUCERS=$PRODUCERS CONC=$CONC WARMUP=$WARMUP LAT_RATE=$LAT_RATE LAT_N=$LAT_N pinning: ${PIN[*]:-none}"
echo

# ---------------------------------------------------------------- runs
for r in $(seq 1 "$ROUNDS"); do
	log "round $r of $ROUNDS: throughput"
	for c in "${CASES[@]}"; do
		name=${c%%|*}
		n=$N
		case $name in *-embedded) n=$EMB_N ;; esac
		bench "$name" tput "$n"
		if [ "$name" = gearman ]; then gearman_cli "$N"; fi
	done
	log "round $r of $ROUNDS: latency at $LAT_RATE jobs/s"
	for c in "${CASES[@]}"; do
		name=${c%%|*}
		bench "$name" lat "$LAT_N" -rate "$LAT_RATE" -warmup 100
	done
done

# ---------------------------------------------------------------- report
# col NAME KIND KEY: median of KEY over the rounds.
col() {
	[ -f "$WORK/$1.$2" ] || { echo n/a; return; }
	while read -r l; do kv "$l" "$3"; done <"$WORK/$1.$2" | grep -v '^$' | median
}
row() { printf '%-46s %9s %8s %9s %9s %8s %8s %8s %9s\n' "$@"; }

echo "## throughput: N=$N jobs ($EMB_N on the embedded queue) from $PRODUCERS producers, $CONC workers; medians of $ROUNDS rounds"
echo "## latency: $LAT_N jobs paced at $LAT_RATE jobs/s; enqueue -> handler start, medians of $ROUNDS rounds"
row case "jobs/s" "x asynq" "cpu us/job" "redis s" "lat p50" "lat p99" "p99 x" "tput p99"
A_TPUT=$(col asynq tput jobs_per_s)
A_P99=$(col asynq lat p99_ms)
for c in "${CASES[@]}"; do
	name=${c%%|*}
	desc=$(cut -d'|' -f2 <<<"$c")
	tp=$(col "$name" tput jobs_per_s)
	row "$desc" "$tp" "$(ratio "$tp" "$A_TPUT")" "$(col "$name" tput cpu_us_per_job)" "$(col "$name" tput redis_cpu_s)" \
		"$(col "$name" lat p50_ms)" "$(col "$name" lat p99_ms)" "$(ratio "$(col "$name" lat p99_ms)" "$A_P99")" "$(col "$name" tput p99_ms)"
	if [ "$name" = gearman ] && [ -f "$WORK/gearman-cli.tput" ]; then
		tp=$(col gearman-cli tput jobs_per_s)
		row "Gearman, gearman CLI tools (no latency)" "$tp" "$(ratio "$tp" "$A_TPUT")" - - - - - -
	fi
done
echo "(jobs/s: first enqueue to last handler start; cpu us/job: jobsbench's own CPU, Redis's in 'redis s' per run,"
echo " MariaDB's and gearmand's not counted; lat: at $LAT_RATE jobs/s; tput p99: the p99 of the throughput run, a backlog's)"
echo
echo "### targets"
D=$(col direct-sqlite tput jobs_per_s)
echo "platform direct (SQLite + Redis) / raw asynq: $(ratio "$D" "$A_TPUT")x jobs/s (target >= 0.9)"
[ "$MYSQL_ON" = 1 ] && echo "platform direct (MariaDB + Redis) / raw asynq: $(ratio "$(col direct-mysql tput jobs_per_s)" "$A_TPUT")x jobs/s (target >= 0.9)"
W=$(col asynq-weighted tput jobs_per_s)
echo "platform direct (SQLite + Redis) / raw asynq on the same 3 weighted queues: $(ratio "$D" "$W")x jobs/s"
[ "$MYSQL_ON" = 1 ] && echo "platform direct (MariaDB + Redis) / raw asynq on the same 3 weighted queues: $(ratio "$(col direct-mysql tput jobs_per_s)" "$W")x jobs/s"
if [ "$GEARMAN_ON" = 1 ]; then
	echo "platform direct (SQLite + Redis) / gearmand (Go client): $(ratio "$D" "$(col gearman tput jobs_per_s)")x jobs/s, p99 at $LAT_RATE/s $(col direct-sqlite lat p99_ms) ms vs $(col gearman lat p99_ms) ms (target: faster)"
	echo "platform direct (SQLite + Redis) / gearmand (CLI tools): $(ratio "$D" "$(col gearman-cli tput jobs_per_s)")x jobs/s"
fi
echo
echo "### every run"
for f in "$WORK"/*.tput "$WORK"/*.lat "$WORK"/*.failed; do
	[ -f "$f" ] && cat "$f"
done
echo

# ---------------------------------------------------------------- profile
if [ "$PROFILE" = 1 ]; then
	log "profiling the throughput run of raw asynq and of the platform's direct path (SQLite + Redis)"
	for name in asynq direct-sqlite; do
		bench "$name" prof "$N" -cpuprofile "$WORK/$name.pprof"
		echo "## CPU profile, $name, throughput run ($(tail -1 "$WORK/$name.prof" 2>/dev/null | awk '{for (i=1;i<=NF;i++) if ($i ~ /^(jobs_per_s|cpu_s)=/) printf "%s ", $i}'))"
		echo "### flat, top 20"
		timeout 120 go tool pprof -top -nodecount=20 "$WORK/jobsbench" "$WORK/$name.pprof" 2>/dev/null | sed -n '/flat%/,$p'
		echo "### cumulative, top 45"
		timeout 120 go tool pprof -top -cum -nodecount=45 "$WORK/jobsbench" "$WORK/$name.pprof" 2>/dev/null | sed -n '/flat%/,$p'
		mkdir -p "$PROF_DIR"
		cp "$WORK/$name.pprof" "$WORK/jobsbench" "$PROF_DIR/" 2>/dev/null || true
		echo
	done
	echo "(profiles kept in $PROF_DIR: go tool pprof -http=: $PROF_DIR/jobsbench $PROF_DIR/direct-sqlite.pprof)"
fi
log "results in $OUT"
