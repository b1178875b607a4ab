#!/usr/bin/env bash
# Browser tests of the backoffice: builds the binary, starts it on a fresh
# data directory (SQLite, embedded queue) on a free port, waits for /readyz,
# runs the tests in Debian's headless Chromium with node's test runner, and
# stops the server. Screenshots go to $E2E_OUT/screenshots (default
# .ci/out/screenshots) and Playwright traces to $E2E_OUT/traces (open one
# in the Playwright trace viewer, trace.playwright.dev); with E2E_UPDATE_DOCS=1 the
# screenshots are copied to docs/screenshots for the README. E2E_BIN runs a
# binary already built instead of building one.
#
# Needs: go, node >= 20, /usr/bin/chromium (apt-get install chromium), and
# `npm ci` run in this folder. No browser is ever downloaded.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${E2E_OUT:-$root/.ci/out}"
chromium="${E2E_CHROMIUM:-/usr/bin/chromium}"
mkdir -p "$out/screenshots" "$out/traces"

if [ ! -x "$chromium" ]; then
	echo "e2e: $chromium not found; install Debian's chromium (apt-get install -y chromium)" >&2
	exit 1
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
	echo "e2e: playwright-core is not installed; run: (cd web/e2e && npm ci)" >&2
	exit 1
fi

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid"
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ -n "${E2E_BIN:-}" ]; then
	cp "$E2E_BIN" "$tmp/platform"
else
	echo "e2e: building"
	(cd "$root" && go build -o "$tmp/platform" ./cmd/platform)
fi

admin_email="admin@example.com"
admin_password="e2e-admin-password-123"

# start picks a free port and starts the server; another process can take
# the port between the pick and the bind, so up to five tries.
start() {
	port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
	base="http://127.0.0.1:$port"
	echo "e2e: starting the platform on $base"
	rm -rf "$tmp/data"
	# E2E_MYSQL_DB runs the server on MariaDB (root, no password, 127.0.0.1)
	# and the real Redis instead of the embedded default, on a database
	# made empty for each start.
	extra=()
	if [ -n "${E2E_MYSQL_DB:-}" ]; then
		mariadb -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS \`$E2E_MYSQL_DB\`; CREATE DATABASE \`$E2E_MYSQL_DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
		redis-cli -h 127.0.0.1 -n "${E2E_REDIS_DB:-14}" FLUSHDB >/dev/null
		extra=(PLATFORM_DATABASE_DRIVER=mysql "PLATFORM_DATABASE_DSN=root@tcp(127.0.0.1:3306)/$E2E_MYSQL_DB"
			PLATFORM_DATABASE_AUTO_MIGRATE=true PLATFORM_REDIS_ADDR=127.0.0.1:6379 "PLATFORM_REDIS_DB=${E2E_REDIS_DB:-14}")
	fi
	env -i PATH="$PATH" HOME="${HOME:-$tmp}" "${extra[@]}" \
		PLATFORM_DATA_DIR="$tmp/data" \
		PLATFORM_HTTP_ADDR="127.0.0.1:$port" \
		PLATFORM_BOOTSTRAP_ADMIN_EMAIL="$admin_email" \
		PLATFORM_BOOTSTRAP_ADMIN_PASSWORD="$admin_password" \
		PLATFORM_LOG_FORMAT=text \
		"$tmp/platform" serve >"$out/e2e-server.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 1 120); do
		if ! kill -0 "$server_pid" 2>/dev/null; then
			wait "$server_pid" 2>/dev/null || true
			server_pid=""
			return 1
		fi
		if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$base/readyz"; then
			return 0
		fi
		sleep 0.5
	done
	echo "e2e: /readyz did not answer 200 in 60s" >&2
	return 2
}

ready=""
for _ in 1 2 3 4 5; do
	if start; then
		ready=1
		break
	elif [ $? -eq 2 ] || ! grep -q "address already in use" "$out/e2e-server.log"; then
		break
	fi
done
if [ -z "$ready" ]; then
	echo "e2e: the server did not start; its log:" >&2
	cat "$out/e2e-server.log" >&2
	exit 1
fi

# Arguments name test files to run instead of all, e.g.
# web/e2e/run.sh web/e2e/tests/helpdesk.spec.test.js.
tests=("$here"/tests/*.test.js)
if [ $# -gt 0 ]; then
	tests=()
	for t in "$@"; do tests+=("$(cd "$(dirname "$t")" && pwd)/$(basename "$t")"); done
fi
echo "e2e: running the browser tests"
E2E_BASE_URL="$base" E2E_ADMIN_EMAIL="$admin_email" E2E_ADMIN_PASSWORD="$admin_password" \
	E2E_SCREENSHOTS="$out/screenshots" E2E_TRACES="$out/traces" E2E_CHROMIUM="$chromium" \
	node --test --test-concurrency=1 "${tests[@]}"

if [ "${E2E_UPDATE_DOCS:-}" = "1" ]; then
	mkdir -p "$root/docs/screenshots"
	cp "$out"/screenshots/*.png "$root/docs/screenshots/"
	echo "e2e: screenshots copied to docs/screenshots"
fi
