#!/usr/bin/env bash
# Several kefu nodes and a routing server on loopback, on one database, and the load tool
# against them (docs/benchmarks.md, "Several nodes"):
#
#   bash benches/cluster.sh failover [CLIENTS]     # kill -9 the node serving CLIENTS
#                                                  # visitors (10000): resume p50/p99/all
#   bash benches/cluster.sh idle [NODES] [PER]     # NODES nodes (6), PER idle WebSocket
#                                                  # visitors on each (16667): RSS per node
#                                                  # (KEFU_HEARTBEAT_MS passes through)
#
# KEFU and KEFU_LOAD name the binaries (target/release/…: `cargo build --release -p kefu
# -p kefu-load`); KEFU_DATABASE_URL the database (a fresh SQLite file by default; a
# postgres:// or mysql:// database must be empty and the binary built with its feature).
# Every process is stopped on exit. Nothing leaves 127.0.0.x.
set -euo pipefail
cd "$(dirname "$0")/.."

KEFU=${KEFU:-target/release/kefu}
KEFU_LOAD=${KEFU_LOAD:-target/release/kefu-load}
what=${1:-failover}
work=$(mktemp -d "${TMPDIR:-/tmp}/kefu-cluster-bench.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export KEFU_DATABASE_URL=${KEFU_DATABASE_URL:-sqlite://$work/kefu.db}
export KEFU_ADMIN_PASSWORD=bench KEFU_LOG=warn KEFU_SQLITE_SYNCHRONOUS=full
# The load tool's clients come from a few loopback addresses (docs/benchmarks.md).
export KEFU_MAX_CONNECTIONS_PER_ADDRESS=40000 KEFU_MAX_CHANNELS_PER_ADDRESS=40000

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up() { # wait for http://127.0.0.1:$1/healthz
    for _ in $(seq 300); do
        curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "no server on port $1" >&2
    return 1
}
declare -A node_port=() node_pid=()
node() { # node ID: start it, remember its port and pid
    local p
    p=$(port)
    KEFU_NODE_ID=$1 KEFU_PUBLIC_URL=http://127.0.0.1:$p "$KEFU" serve --listen 127.0.0.1:"$p" \
        >"$work/$1.log" 2>&1 &
    pids+=($!)
    node_pid[$1]=$!
    node_port[$1]=$p
    up "$p"
}
router() {
    router_port=$(port)
    "$KEFU" router --listen 127.0.0.1:"$router_port" >"$work/router.log" 2>&1 &
    pids+=($!)
    up "$router_port"
}
# The node serving site KEY now, by the router.
serving() {
    curl -fsS "http://127.0.0.1:$router_port/v1/route?site=$1" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

case "$what" in
failover)
    clients=${2:-10000}
    node n1
    "$KEFU" migrate >/dev/null 2>&1 || true
    node n2
    node n3
    router
    key=$("$KEFU" site list | awk 'NR==1 {print $2}')
    sleep 2 # every node has beaten: the site is where rendezvous puts it
    victim=$(serving "$key")
    echo "site $key is served by $victim (pid ${node_pid[$victim]}); $clients visitors, then kill -9 $victim"
    "$KEFU_LOAD" --url "http://127.0.0.1:$router_port" --route-site "$key" --sources 2 \
        --out "$work/failover.json" storm --clients "$clients" --kill-pid "${node_pid[$victim]}"
    echo "the site is now served by $(serving "$key")"
    ;;
idle)
    nodes=${2:-6}
    per=${3:-16667}
    node n1
    router
    for i in $(seq 2 "$nodes"); do node "n$i"; done
    sleep 2
    # One site (and one agent, for the load tool's sign-in) per node: sites are added until
    # every node serves one.
    declare -A site_of=()
    for i in $(seq 1 200); do
        [ "${#site_of[@]}" -ge "$nodes" ] && break
        key=$("$KEFU" site add "bench $i" | grep -o 's_[A-Za-z0-9_-]*' | head -n 1)
        owner=$(serving "$key")
        if [ -n "$owner" ] && [ -z "${site_of[$owner]:-}" ]; then
            site_of[$owner]=$key
            "$KEFU" agent add --site "$key" --email "bench-$owner@localhost" --name "$owner" \
                --password bench-agent >/dev/null
        fi
    done
    [ "${#site_of[@]}" -ge "$nodes" ] || { echo "could not give every node a site" >&2; exit 1; }
    sleep 1
    echo "node  port   idle RSS (KiB)"
    for n in "${!site_of[@]}"; do echo "$n  ${node_port[$n]}  $(rss_kib "${node_pid[$n]}")"; done
    # Every node at once: each load process holds its share and measures its node.
    i=0
    loads=()
    for n in "${!site_of[@]}"; do
        "$KEFU_LOAD" --url "http://127.0.0.1:${node_port[$n]}" --email "bench-$n@localhost" \
            --password bench-agent --sources 1 --quiet --time-limit 400 --out "$work/idle-$n.json" \
            idle --conns "$per" --hold 120 >"$work/idle-$n.out" 2>&1 &
        loads+=($!)
        i=$((i + 1))
    done
    # Halfway through the hold every node holds its visitors: read them all at once.
    for _ in $(seq 300); do
        held=0
        for n in "${!site_of[@]}"; do
            c=$(curl -fsS "http://127.0.0.1:${node_port[$n]}/healthz" |
                python3 -c 'import json,sys; print(json.load(sys.stdin).get("connections", 0))')
            held=$((held + c))
        done
        [ "$held" -ge $((nodes * per)) ] && break
        sleep 1
    done
    echo "held $held idle WebSocket visitors over $nodes nodes at once"
    echo "node  visitors  RSS (KiB)"
    for n in "${!site_of[@]}"; do
        c=$(curl -fsS "http://127.0.0.1:${node_port[$n]}/healthz" |
            python3 -c 'import json,sys; print(json.load(sys.stdin).get("connections", 0))')
        echo "$n  $c  $(rss_kib "${node_pid[$n]}")"
    done
    for p in "${loads[@]}"; do wait "$p" || true; done
    for n in "${!site_of[@]}"; do
        echo "--- $n (kefu-load idle, measured while all nodes held theirs)"
        tail -n 6 "$work/idle-$n.out"
    done
    ;;
*)
    echo "usage: bash benches/cluster.sh failover [CLIENTS] | idle [NODES] [PER]" >&2
    exit 2
    ;;
esac
