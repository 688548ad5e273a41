#!/usr/bin/env bash
# Times `tcpdoctor census` against the standard tools on the same socket
# population, in one hyperfine run per scale, and prints ratios and peak RSS.
#
#   bench/census.sh [SCALE...]      SCALE: 10k 200k 1m (default: all three)
#
# Populations come from the socket farm in ../shared/bench (its own network
# namespace, PID namespace and TCP hash table, on loopback only):
#   10k   5,000 ESTABLISHED pairs                         (~10k sockets)
#   200k  100,000 pairs + 10,000 CLOSE_WAIT over 4 holders (220,100 sockets)
#   1m    500,000 pairs                                    (~1M sockets)
# The kernel's own dump time (examples/dump_floor compat: the same netlink request,
# replies received but not parsed) is timed too: it is the floor.
# Needs root. Results: bench/results/<scale>.{json,md}. Farms are torn down
# on exit, also on failure or Ctrl-C.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
SHARED=${SHARED_BENCH:-$REPO/../shared/bench}
OUT=$HERE/results
mkdir -p "$OUT"

[[ $(id -u) -eq 0 ]] || { echo "census.sh: needs root (network namespaces)" >&2; exit 3; }
[[ -x $SHARED/farm.sh ]] || { echo "census.sh: no socket farm at $SHARED (set SHARED_BENCH)" >&2; exit 3; }
if ! command -v hyperfine >/dev/null || ! command -v netstat >/dev/null || [[ ! -x /usr/bin/time ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine net-tools time iproute2 >/dev/null
fi

cargo build --release --locked --manifest-path "$REPO/Cargo.toml" >&2
cargo build --release --locked --manifest-path "$REPO/Cargo.toml" -p tcpdoctor-core --example dump_floor >&2
TD=$REPO/target/release/tcpdoctor
FLOOR=$REPO/target/release/examples/dump_floor

FARM=""
cleanup() { [[ -n $FARM ]] && "$SHARED/farm.sh" down "$FARM" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM

flags_for() {
    case $1 in
        10k) echo "--established 5000" ;;
        200k) echo "--established 100000 --close-wait 10000 --holders 4" ;;
        1m) echo "--established 500000" ;;
        *) echo "unknown scale $1 (10k, 200k, 1m)" >&2; exit 2 ;;
    esac
}

# Peak RSS in KiB of the largest process of a pipeline, run inside the farm.
peak_rss() {
    "$SHARED/farm.sh" exec "$FARM" bash -c "$1" 2>&1 >/dev/null | awk '/Maximum resident/ {if ($6 > m) m = $6} END {print m+0}'
}

SS_AWK="ss -tan | awk 'NR>1 {++S[\$1]} END {for(a in S) print a, S[a]}'"
NETSTAT_AWK="netstat -n | awk '/^tcp/ {++S[\$NF]} END {for(a in S) print a, S[a]}'"

for scale in "${@:-10k 200k 1m}"; do
  for s in $scale; do
    FARM="tdbench-$s"
    "$SHARED/farm.sh" down "$FARM" >/dev/null 2>&1 || true
    # shellcheck disable=SC2046
    "$SHARED/farm.sh" up "$FARM" $(flags_for "$s") >&2
    sockets=$("$SHARED/farm.sh" exec "$FARM" "$TD" census --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
    echo "== $s: $sockets sockets" >&2
    "$SHARED/farm.sh" exec "$FARM" hyperfine --warmup 1 --min-runs 5 --max-runs 30 --export-json "$OUT/$s.json" \
        -n tcpdoctor "$TD census" \
        -n floor "$FLOOR compat" \
        -n ss-awk "$SS_AWK" \
        -n netstat-awk "$NETSTAT_AWK" \
        -n ss-s "ss -s" >&2
    rss_td=$(peak_rss "/usr/bin/time -v $TD census")
    rss_ss=$(peak_rss "/usr/bin/time -v ss -tan | /usr/bin/time -v awk 'NR>1 {++S[\$1]}'")
    rss_ns=$(peak_rss "/usr/bin/time -v netstat -n | /usr/bin/time -v awk '/^tcp/ {++S[\$NF]}'")
    python3 - "$OUT/$s.json" "$s" "$sockets" "$rss_td" "$rss_ss" "$rss_ns" <<'PY' | tee "$OUT/$s.md"
import json, sys
path, scale, sockets, rss_td, rss_ss, rss_ns = sys.argv[1:]
res = {r["command"]: r for r in json.load(open(path))["results"]}
med = {k: r["median"] for k, r in res.items()}
mn = {k: r["min"] for k, r in res.items()}
td = med["tcpdoctor"]
print(f"### {scale}: {int(sockets):,} sockets")
print()
print("| command | median | min | its time / tcpdoctor's |")
print("|---|---|---|---|")
for k in ["tcpdoctor", "floor", "ss-awk", "netstat-awk", "ss-s"]:
    ratio = "" if k == "tcpdoctor" else f"{med[k] / td:.2f}x"
    print(f"| {k} | {med[k]*1000:.1f} ms | {mn[k]*1000:.1f} ms | {ratio} |")
print()
per = (td - med["floor"]) / int(sockets) * 1e9 if int(sockets) else 0
print(f"tcpdoctor / kernel floor: {td / med['floor']:.2f} (floor {med['floor'] / max(int(sockets),1) * 1e9:.0f} ns per socket, tcpdoctor adds {per:.0f} ns per socket)")
print(f"peak RSS: tcpdoctor {int(rss_td)/1024:.1f} MiB, ss|awk {int(rss_ss)/1024:.1f} MiB, netstat|awk {int(rss_ns)/1024:.1f} MiB")
print()
PY
    "$SHARED/farm.sh" down "$FARM" >/dev/null 2>&1 || true
    FARM=""
  done
done
