# Shared by bench/*.sh: setup, farms that are always torn down, timing.
# Source it; do not run it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SHARED=${SHARED_BENCH:-$REPO/../shared/bench}
OUT=$HERE/results
mkdir -p "$OUT"

[[ $(id -u) -eq 0 ]] || { echo "$(basename "$0"): needs root (network namespaces)" >&2; exit 3; }
[[ -x $SHARED/farm.sh ]] || { echo "$(basename "$0"): no socket farm at $SHARED (set SHARED_BENCH)" >&2; exit 3; }
if ! command -v hyperfine >/dev/null || ! command -v netstat >/dev/null || [[ ! -x /usr/bin/time ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine net-tools time iproute2 >/dev/null
fi

cargo build --release --locked --manifest-path "$REPO/Cargo.toml" >&2
cargo build --release --locked --manifest-path "$REPO/Cargo.toml" -p tcpdoctor-core --examples >&2
TD=$REPO/target/release/tcpdoctor
EXAMPLES=$REPO/target/release/examples

FARM=""
cleanup() { if [[ -n $FARM ]]; then "$SHARED/farm.sh" down "$FARM" >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT INT TERM

# Socket populations by scale name.
flags_for() {
    case $1 in
        10k) echo "--established 5000" ;;
        100k) echo "--established 50000 --close-wait 5000 --holders 4" ;;
        200k) echo "--established 100000 --close-wait 10000 --holders 4" ;;
        1m) echo "--established 500000" ;;
        *) echo "unknown scale $1 (10k, 100k, 200k, 1m)" >&2; exit 2 ;;
    esac
}

# farm_up SCALE PREFIX: builds the population in a fresh farm named PREFIX-SCALE.
farm_up() {
    FARM="$2-$1"
    "$SHARED/farm.sh" down "$FARM" >/dev/null 2>&1 || true
    # shellcheck disable=SC2046
    "$SHARED/farm.sh" up "$FARM" $(flags_for "$1") >&2
}

farm_down() {
    "$SHARED/farm.sh" down "$FARM" >/dev/null 2>&1 || true
    FARM=""
}

in_farm() { "$SHARED/farm.sh" exec "$FARM" "$@"; }

sockets_in_farm() {
    in_farm "$TD" census --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'
}

# Peak RSS in KiB of the largest process of a pipeline, run inside the farm.
peak_rss() {
    in_farm bash -c "$1" 2>&1 >/dev/null | awk '/Maximum resident/ {if ($6 > m) m = $6} END {print m+0}'
}

# table JSON SCALE SOCKETS BASE: a markdown table of a hyperfine export,
# each command's median against BASE's.
table() {
    python3 - "$@" <<'PY'
import json, sys
path, scale, sockets, base = sys.argv[1:5]
res = [(r["command"], r) for r in json.load(open(path))["results"]]
b = dict(res)[base]["median"]
print(f"### {scale}: {int(sockets):,} sockets")
print()
print(f"| command | median | min | runs | its time / {base}'s |")
print("|---|---|---|---|---|")
for k, r in res:
    ratio = "" if k == base else f"{r['median'] / b:.2f}x"
    print(f"| {k} | {r['median']*1000:.1f} ms | {r['min']*1000:.1f} ms | {len(r['times'])} | {ratio} |")
print()
PY
}

# nginx_conf DIR KEEPALIVE_S: an nginx.conf in DIR answering 200 on
# 127.0.0.1:8080 (two workers, in the foreground, logs in DIR), with
# keepalive_timeout KEEPALIVE_S (0: nginx closes first). Exported for the
# scripts' `unshare -n bash` parts.
nginx_conf() {
    cat > "$1/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_timeout $2;
    keepalive_requests 1000000;
    client_body_temp_path $1;
    server { listen 127.0.0.1:8080 backlog=4096; location / { return 200 "ok\n"; } }
}
CONF
}
export -f nginx_conf
