#!/usr/bin/env bash
# kefu's one test command: the Rust suite (every crate of the workspace: the product and
# its tools under tools/), then the widget's lint, ES3 parse, size budget,
# unit tests and real-browser tests, then the agent console's lint, unit tests and
# real-browser tests. It installs what the JavaScript tests need when missing: each
# package's npm packages (npm ci) and Debian's chromium (as root, or through sudo).
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
