#!/usr/bin/env bash
# bench/notifications.sh - the notifications fan-out benchmark of
# docs/benchmarks.md: the platform's realtime gateway against a Node.js
# socket.io@4.8.4 server (bench/socketio/server.js), side by side in one
# run, with the same driver (bench/socketio/drive.js): CLIENTS
# socket.io-client 4.8.4 sockets over WebSocket in TENANTS tenant rooms,
# RATE notifications a second for DURATION seconds, each to one tenant's room.
# Measured: p50/p99 from publish to receive, the share delivered, and the
# growth of the server's RSS per 1,000 connections.
#
# The platform runs on SQLite and the real Redis (database REDIS_DB, 13,
# flushed); a notification is published on the gateway's Redis channel, the
# path a notification made on another node takes. Node's is published with
# an HTTP POST to the server, which emits to the room. The servers run on
# CPU 0 and the driver on CPU 1 (taskset).
#
# Usage: bench/notifications.sh          (from anywhere in the repository)
# Knobs: CLIENTS=2000 TENANTS=20 RATE=20 DURATION=30 (seconds) ROUNDS=2 REDIS=127.0.0.1:6379 REDIS_DB=13
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
CLIENTS="${CLIENTS:-2000}" TENANTS="${TENANTS:-20}" RATE="${RATE:-20}" DURATION="${DURATION:-30}"
ROUNDS="${ROUNDS:-2}" REDIS="${REDIS:-127.0.0.1:6379}" REDIS_DB="${REDIS_DB:-13}"
rev="$(git -C "$root" rev-parse --short HEAD)"
OUT="${OUT:-$here/results/notifications-$(date -u +%F)-$rev.txt}"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((CLIENTS * 2 + 256)) ]; then echo "notifications.sh: ulimit -n $(ulimit -n) is too low for $CLIENTS clients" >&2; exit 1; fi

tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

(cd "$here/socketio" && [ -d node_modules/socket.io ] || npm ci --no-audit --no-fund >/dev/null 2>&1 || npm install --no-audit --no-fund >/dev/null)
(cd "$root" && go build -o "$tmp/platform" ./cmd/platform)

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

start_platform() {
	env -i PATH="$PATH" HOME="$tmp" PLATFORM_DATA_DIR="$tmp/data" PLATFORM_HTTP_ADDR="127.0.0.1:$port" \
		PLATFORM_REDIS_ADDR="$REDIS" PLATFORM_REDIS_DB="$REDIS_DB" PLATFORM_HTTP_ACCESS_LOG=false \
		PLATFORM_BOOTSTRAP_ADMIN_EMAIL=admin@example.com PLATFORM_BOOTSTRAP_ADMIN_PASSWORD=bench-admin-password \
		taskset -c 0 "$tmp/platform" serve >>"$tmp/platform.log" 2>&1 &
	pid=$!; pids+=("$pid")
	for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done
}

# run_platform makes the tenants, users and tokens on a first process, then
# measures a second one on the same data: password hashing leaves garbage
# that a Go heap gives back to the system only slowly, which would hide the
# sockets' memory in the first process's RSS.
run_platform() {
	redis-cli -h "${REDIS%:*}" -p "${REDIS#*:}" -n "$REDIS_DB" FLUSHDB >/dev/null
	port="$(free_port)"
	rm -rf "$tmp/data" "$tmp/tokens.json"
	local common=(KIND=platform TARGET="http://127.0.0.1:$port" REDIS="$REDIS" REDIS_DB="$REDIS_DB"
		ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD=bench-admin-password TOKENS="$tmp/tokens.json"
		CLIENTS="$CLIENTS" TENANTS="$TENANTS" RATE="$RATE" DURATION="$DURATION")
	start_platform
	env "${common[@]}" SERVER_PID="$pid" SETUP_ONLY=1 node "$here/socketio/drive.js"
	kill "$pid"; wait "$pid" 2>/dev/null || true
	start_platform
	env "${common[@]}" SERVER_PID="$pid" taskset -c 1 node "$here/socketio/drive.js"
	kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_node() {
	local port; port="$(free_port)"
	PORT="$port" taskset -c 0 node "$here/socketio/server.js" >"$tmp/node.log" 2>&1 &
	local pid=$!; pids+=("$pid")
	for _ in $(seq 1 60); do grep -q listening "$tmp/node.log" && break; sleep 0.2; done
	KIND=node TARGET="http://127.0.0.1:$port" SERVER_PID="$pid" \
		CLIENTS="$CLIENTS" TENANTS="$TENANTS" RATE="$RATE" DURATION="$DURATION" taskset -c 1 node "$here/socketio/drive.js"
	kill "$pid"; wait "$pid" 2>/dev/null || true
}

{
	echo "# notifications fan-out, $(date -u +%FT%TZ), platform $rev, node $(node --version), socket.io 4.8.4"
	echo "# clients=$CLIENTS tenants=$TENANTS rate=$RATE/s seconds=$DURATION rounds=$ROUNDS, $(nproc) CPUs"
	for r in $(seq 1 "$ROUNDS"); do
		run_platform
		run_node
	done
} | tee "$OUT"
echo "results in $OUT" >&2
