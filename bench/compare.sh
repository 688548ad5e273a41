#!/usr/bin/env bash
# Side by side: this checkout's tcpdoctor against the one built from REV
# (default: the commit before the application layer), on the same farm
# population in one run: census, owners (sockets, census --by process),
# one detailed watch sample, watch's CPU over SAMPLES seconds, and the
# exporter's full refresh and scrape.
#
#   sudo bench/compare.sh [SCALE] [REV]      # SCALE 10k|200k|1m, default 200k
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }

s=${1:-200k}
rev=${2:-0c06136}
SAMPLES=${SAMPLES:-30}
base_dir=${BASE_DIR:-/tmp/tcpdoctor-base-$rev}
if [[ ! -x $base_dir/target/release/tcpdoctor ]]; then
    rm -rf "$base_dir"
    git -C "$REPO" worktree add --detach "$base_dir" "$rev" >&2
    cargo build --release --locked --manifest-path "$base_dir/Cargo.toml" >&2
fi
OLD=$base_dir/target/release/tcpdoctor

farm_up "$s" tdcompare
n=$(sockets_in_farm)
in_farm hyperfine --warmup 1 --min-runs 5 --max-runs 20 --export-json "$OUT/compare-$s.json" \
    -n "census (new)" "$TD census" \
    -n "census (old)" "$OLD census" \
    -n "census --by process (new)" "$TD census --by process > /dev/null" \
    -n "census --by process (old)" "$OLD census --by process > /dev/null" \
    -n "sockets (new)" "$TD sockets > /dev/null" \
    -n "sockets (old)" "$OLD sockets > /dev/null" \
    -n "watch --count 1 (new)" "$TD watch --json --count 1 > /dev/null" \
    -n "watch --count 1 (old)" "$OLD watch --json --count 1 > /dev/null" \
    -n floor "$EXAMPLES/dump_floor compat" \
    -n "ss -tanp" "ss -tanp > /dev/null" >&2

watch_cpu() {
    in_farm /usr/bin/time -f '%U %S %e' -o "$OUT/compare-watch.time" \
        "$1" watch --json --interval 1 --count "$SAMPLES" > /dev/null
    awk '{printf "%.1f%% of one core (%.0f ms CPU a second)", ($1+$2)/$3*100, ($1+$2)/$3*1000}' \
        "$OUT/compare-watch.time"
}

# The exporter: one full refresh at start (owners, trends, findings), then
# the per-scrape census; the refresh's duration is one of its metrics.
refresh() {
    local bin=$1 port=$2
    in_farm bash -c "$bin serve --listen 127.0.0.1:$port --census-cache 0 --full-interval 3600 \
        >/dev/null 2>&1 & echo \$! > /tmp/tdcompare-$port.pid"
    in_farm bash -c "until curl -sf http://127.0.0.1:$port/metrics \
        | grep -q '^tcpdoctor_full_refresh_duration_seconds [1-9.]'; do sleep 0.2; done"
    in_farm hyperfine -N --warmup 2 --min-runs 10 --export-json "$OUT/compare-scrape-$port.json" \
        -n scrape "curl -sf -o /dev/null http://127.0.0.1:$port/metrics" >&2
    local full
    full=$(in_farm curl -sf "http://127.0.0.1:$port/metrics" \
        | awk '/^tcpdoctor_full_refresh_duration_seconds/ {printf "%.2f s", $2}')
    in_farm bash -c "kill \$(cat /tmp/tdcompare-$port.pid)"
    python3 - "$OUT/compare-scrape-$port.json" "$full" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"full refresh {sys.argv[2]}, scrape median {r['median'] * 1000:.1f} ms")
PY
}

{
    table "$OUT/compare-$s.json" "$s (new against $rev)" "$n" floor
    python3 - "$OUT/compare-$s.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
for what in ["census", "census --by process", "sockets", "watch --count 1"]:
    print(f"- {what}: new / old {r[what + ' (new)'] / r[what + ' (old)']:.2f}")
print(f"- ss -tanp / census --by process (new): {r['ss -tanp'] / r['census --by process (new)']:.1f}x")
PY
    echo "- watch, $SAMPLES samples at 1 s: new $(watch_cpu "$TD"); old $(watch_cpu "$OLD")"
    echo "- exporter: new $(refresh "$TD" 19761); old $(refresh "$OLD" 19762)"
    echo
} | tee "$OUT/compare-$s.md"
farm_down
