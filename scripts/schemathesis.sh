#!/usr/bin/env bash
# The HTTP API checked against its OpenAPI document (src/http/openapi.json, served at
# /v1/openapi.json): schemathesis (from PyPI, into a virtualenv under the cargo target
# directory) drives a kefu server started here on a fresh SQLite file, signed in as the
# first site's admin, through every operation of the document — its examples, the
# boundaries of every schema (positive and negative cases) and random data — and fails
# on any 5xx, any status, content type or body the document does not describe, valid
# data refused or invalid data accepted. Sign-out runs last (it revokes the token).
#
# Usage: scripts/schemathesis.sh [KEFU_BINARY] (default: the debug build, built first).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
bin="${1:-}"
if [ -z "$bin" ]; then
    cargo build --bin kefu
    bin="$target_dir/debug/kefu"
fi

version=4.32.5
venv="$target_dir/schemathesis-$version"
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

work="$(mktemp -d)"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# A short poll timeout: a parked poll answers within it.
KEFU_LOG=warn NO_COLOR=1 KEFU_DATABASE_URL="sqlite://$work/kefu.db" KEFU_POLL_TIMEOUT_MS=300 \
    "$bin" --listen 127.0.0.1:0 >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 200); do
    grep -q "created admin" "$work/out" 2>/dev/null && break
    sleep 0.1
done
base="$(sed -n 's/^kefu is listening on //p' "$work/out")"
email="$(sed -n 's/.*created admin \([^ ]*\) with password.*/\1/p' "$work/out")"
password="$(sed -n 's/.*created admin [^ ]* with password \([^ ]*\).*/\1/p' "$work/out")"
if [ -z "$base" ] || [ -z "$password" ]; then
    echo "scripts/schemathesis.sh: kefu did not start:" >&2
    cat "$work/out" "$work/log" >&2
    exit 1
fi
token="$(curl -fsS -X POST "$base/v1/login" \
    -d "{\"email\":\"$email\",\"password\":\"$password\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"

# Something for the operations on one resource to find, through the document's links
# (the stateful phase): a visitor's conversation (a long-poll channel: hello, then a
# message), a canned response and a rule.
site="$(sed -n 's/.*created site .* with key \([^ ]*\).*/\1/p' "$work/out")"
api() { curl -fsS -H "Content-Type: application/json" -H "Authorization: Bearer $token" "$@"; }
chan="$(curl -fsS -X POST -H "Content-Type: application/json" "$base/v1/lp/open" -d "{\"t\":\"hello\",\"v\":1,\"site\":\"$site\",\"role\":\"visitor\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["chan"])')"
curl -fsS -X POST -H "Content-Type: application/json" "$base/v1/lp/send?chan=$chan" -d '{"t":"msg","cid":"seed-1","body":"hello"}' >/dev/null
for _ in $(seq 50); do
    conv="$(api "$base/v1/conversations" |
        python3 -c 'import json, sys; c = json.load(sys.stdin)["conversations"]; print(c[0]["conv"] if c else "")')"
    [ -n "$conv" ] && break
    sleep 0.1
done
canned="$(api -X POST "$base/v1/canned" -d '{"shortcut":"hi","text":"Hello!"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["canned"]["id"])')"
rule="$(api -X POST "$base/v1/rules" -d '{"name":"all","text":"Need help?"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["rule"]["id"])')"
if [ -z "$conv" ]; then
    echo "scripts/schemathesis.sh: the seeded conversation did not appear" >&2
    exit 1
fi

config="$PWD/scripts/schemathesis.toml"
run() {
    # In the scratch directory: schemathesis keeps a cache where it runs.
    (cd "$work" && "$venv/bin/schemathesis" --config-file "$config" run "$base/v1/openapi.json" \
        --header "Authorization: Bearer $token" \
        --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" \
        --seed 1 \
        --no-color \
        "$@")
}
run --exclude-operation-id logout
run --include-operation-id logout --phases coverage,fuzzing
if grep -q "panicked" "$work/log"; then
    echo "scripts/schemathesis.sh: the server panicked:" >&2
    cat "$work/log" >&2
    exit 1
fi
