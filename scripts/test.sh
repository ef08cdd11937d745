#!/usr/bin/env bash
# kefu's one test command: the Rust suite (every crate of the workspace: the product and
# its tools under tools/), then the widget's lint, ES3 parse, size budget,
# unit tests and real-browser tests, then the agent console's lint, unit tests and
# real-browser tests, then the HTTP API against its OpenAPI document (schemathesis),
# then the store and gateway suites again on PostgreSQL and on MariaDB/MySQL. It
# installs what the tests need when missing: each package's npm packages (npm ci),
# Debian's chromium, curl and Python's venv, schemathesis (from PyPI, into the cargo
# target directory), and the client libraries of the optional database backends,
# libpq-dev and default-libmysqlclient-dev (as root, or through sudo).
#
# The database servers are not started here (.ci/run does, on CI). Where they are:
# KEFU_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432) and
# KEFU_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306), a server each, without a
# database: every test makes a database of its own there and drops it. A server that
# cannot be reached is said plainly and its suites are not run; with CI=true or
# KEFU_REQUIRE_BACKENDS=1 that fails the run instead.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else echo "scripts/test.sh: root is needed to run: $*" >&2; return 1
    fi
}
apt_install() {
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
fi
command -v curl >/dev/null 2>&1 || apt_install curl
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
# The system packages the postgres and mysql features link against.
has_package() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
has_package libpq-dev || missing+=(libpq-dev)
has_package default-libmysqlclient-dev || missing+=(default-libmysqlclient-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi
for pkg in widget-js console; do
    if [ ! -d "$pkg/node_modules" ] || [ "$pkg/package-lock.json" -nt "$pkg/node_modules" ]; then
        (cd "$pkg" && npm ci --no-audit --no-fund)
    fi
done

cargo test --workspace
# The browser tests drive the real server binary (built where cargo puts it: honour
# CARGO_TARGET_DIR, relative to this directory as cargo reads it).
cargo build --bin kefu
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
(cd widget-js && KEFU_BIN="$target_dir/debug/kefu" npm test)
(cd console && KEFU_BIN="$target_dir/debug/kefu" npm test)
bash scripts/schemathesis.sh "$target_dir/debug/kefu"

# The database servers: each store suite (the conformance suite and what only that
# backend shows), then the gateway suites with every test server on a fresh database of
# that backend (KEFU_TEST_BACKEND; see tests/support). The suites left out are SQLite's
# own or do not touch the store: crash, store_faults (the SQLite file itself), emfile,
# logs, http_console, http_csp, fuzz_corpus.
gateway_suites=(agents chaos cli cluster db_outage desk durable hostile http_bad_input http_fixtures
    http_transports identity live server_hygiene settings ws_bad_input ws_stream)
require_backends=false
if [ "${CI:-}" = true ] || [ "${KEFU_REQUIRE_BACKENDS:-}" = 1 ]; then
    require_backends=true
fi
# host:port of a server URL (scheme://[user[:password]@]host[:port][/…][?…]).
host_port() {
    local rest="${1#*://}" default_port="$2"
    rest="${rest%%[/?]*}"
    rest="${rest##*@}"
    case "$rest" in *:*) echo "$rest" ;; *) echo "$rest:$default_port" ;; esac
}
# Does something accept TCP connections at host:port (within 3 seconds)?
reachable() {
    local host="${1%:*}" port="${1##*:}"
    timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}
not_run=()
server_suites() {
    local name="$1" feature="$2" backend="$3" url="$4" default_port="$5"
    local at
    at="$(host_port "$url" "$default_port")"
    if ! reachable "$at"; then
        echo "$name at $at is not reachable: its suites were NOT run"
        not_run+=("$name")
        return 0
    fi
    echo "== $name at $at"
    cargo test --features "$feature" --lib -- "store::$backend" store::testdb
    local tests=()
    for t in "${gateway_suites[@]}"; do tests+=(--test "$t"); done
    KEFU_TEST_BACKEND="$backend" cargo test --features "$feature" "${tests[@]}"
}
server_suites PostgreSQL postgres postgres \
    "${KEFU_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}" 5432
server_suites MariaDB/MySQL mysql mysql "${KEFU_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}" 3306
if [ "${#not_run[@]}" -gt 0 ]; then
    echo "NOT run: the suites of ${not_run[*]} (no server reachable)"
    if [ "$require_backends" = true ]; then
        echo "scripts/test.sh: CI=true or KEFU_REQUIRE_BACKENDS=1: every backend's suites must run" >&2
        exit 1
    fi
fi
