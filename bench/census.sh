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
# The kernel's own dump time (examples/dump_floor compat: the same netlink
# request, replies received but not parsed) is timed too: it is the floor.
# `tcpdoctor` counts in the kernel by walking its TCP hash tables from a BPF
# program (the default where allowed, from 25,000 sockets); `hash-walk` and
# `iter-tcp` are that walk and the iter/tcp iterator (its fallback) alone at
# every scale (examples/kernel_census), and `tcpdoctor-netlink` the census
# forced over netlink.
# Needs root. Results: bench/results/census-<scale>.{json,md}. Farms are
# torn down on exit, also on failure or Ctrl-C.
. "$(dirname "$0")/lib.sh"

SS_AWK="ss -tan | awk 'NR>1 {++S[\$1]} END {for(a in S) print a, S[a]}'"
NETSTAT_AWK="netstat -n | awk '/^tcp/ {++S[\$NF]} END {for(a in S) print a, S[a]}'"

for s in ${@:-10k 200k 1m}; do
    farm_up "$s" tdcensus
    n=$(sockets_in_farm)
    in_farm hyperfine --warmup 1 --min-runs 5 --max-runs 30 --export-json "$OUT/census-$s.json" \
        -n tcpdoctor "$TD census" \
        -n hash-walk "$EXAMPLES/kernel_census walk" \
        -n iter-tcp "$EXAMPLES/kernel_census iter" \
        -n tcpdoctor-netlink "$TD census --source netlink" \
        -n floor "$EXAMPLES/dump_floor compat" \
        -n ss-awk "$SS_AWK" \
        -n netstat-awk "$NETSTAT_AWK" \
        -n ss-s "ss -s" >&2
    {
        table "$OUT/census-$s.json" "$s" "$n" tcpdoctor
        python3 - "$OUT/census-$s.json" "$n" <<'PY'
import json, sys
res = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
n = max(int(sys.argv[2]), 1)
print(f"tcpdoctor / kernel floor: {res['tcpdoctor'] / res['floor']:.2f}; "
      f"hash walk / floor: {res['hash-walk'] / res['floor']:.2f}; "
      f"iter/tcp / floor: {res['iter-tcp'] / res['floor']:.2f}; "
      f"over netlink / floor: {res['tcpdoctor-netlink'] / res['floor']:.2f} "
      f"(ns per socket: floor {res['floor'] / n * 1e9:.0f}, walk "
      f"{res['hash-walk'] / n * 1e9:.0f}, iter/tcp {res['iter-tcp'] / n * 1e9:.0f}, "
      f"netlink {res['tcpdoctor-netlink'] / n * 1e9:.0f})")
PY
        echo "peak RSS: tcpdoctor $(($(peak_rss "/usr/bin/time -v $TD census") / 1024)) MiB," \
            "ss|awk $(($(peak_rss "/usr/bin/time -v ss -tan | /usr/bin/time -v awk 'NR>1 {++S[\$1]}'") / 1024)) MiB," \
            "netstat|awk $(($(peak_rss "/usr/bin/time -v netstat -n | /usr/bin/time -v awk '/^tcp/ {++S[\$NF]}'") / 1024)) MiB"
        echo
    } | tee "$OUT/census-$s.md"
    farm_down
done
