#!/usr/bin/env bash
# What the tracer costs: connection throughput with and without
# `tcpdoctor trace` running, at the highest churn this machine reaches
# (nginx answering ApacheBench over loopback, every request a new
# connection), and how long the tracer takes to start.
#
#   bench/trace.sh [REQUESTS]      default 100000 requests per round
#
# Runs in a private network namespace (unshare -n), loopback only; nginx
# and the tracers are this script's own children, stopped on exit. Three
# rounds each, alternating; then one more traced round with the kernel's
# BPF run-time statistics on (kernel.bpf_stats_enabled, restored on exit;
# they cost ~40 ns an event, so not during the timed rounds): what the
# program itself costs per event. Needs root, nginx-light, apache2-utils
# and bpftool.
# Results: bench/results/trace.md.
. "$(dirname "$0")/lib.sh"
N=${1:-100000}
command -v nginx >/dev/null && command -v ab >/dev/null && command -v bpftool >/dev/null \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light apache2-utils bpftool \
        >/dev/null

export TD N
unshare -n bash -euo pipefail <<'INNER' | tee "$OUT/trace.md"
ip link set lo up
dir=$(mktemp -d)
pids=()
stats=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -qw kernel.bpf_stats_enabled="$stats"; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait; rm -rf "$dir"' EXIT
nginx_conf "$dir" 0
nginx -c "$dir/nginx.conf" & pids+=($!)
until ab -q -n 1 http://127.0.0.1:8080/ >/dev/null 2>&1; do :; done

rate() { ab -q -r -n "$N" -c 32 http://127.0.0.1:8080/ 2>/dev/null | awk '/^Requests per second/ {print $4}'; }
traced_rate() {
    "$TD" trace --summary-only > "$dir/summary" 2> "$dir/err" & local t=$!
    until grep -q started "$dir/err" 2>/dev/null; do :; done
    rate
    kill -INT "$t"; wait "$t"
}
plain=(); traced=()
for round in 1 2 3; do
    plain+=("$(rate)")
    traced+=("$(traced_rate)")
done
startup=$(grep -o 'started in [0-9]* ms' "$dir/err")
# The program's own time per event, from the kernel's statistics.
sysctl -qw kernel.bpf_stats_enabled=1
"$TD" trace --summary-only > /dev/null 2> "$dir/err" & t=$!
until grep -q started "$dir/err" 2>/dev/null; do :; done
rate > /dev/null
per_event=$(bpftool prog show name on_state --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d[0] if isinstance(d, list) else d
n, ns = d["run_cnt"], d["run_time_ns"]
print(f"{n:,} events, {ns / max(n, 1):.0f} ns each")')
kill -INT "$t"; wait "$t"
sysctl -qw kernel.bpf_stats_enabled="$stats"
ends=$(awk '/connection end/ {print $4, "ends in", $2, "s,", $7}' "$dir/summary")
python3 - "${plain[*]}" "${traced[*]}" "$startup" "$ends" "$per_event" <<'PY'
import statistics, sys
plain = [float(x) for x in sys.argv[1].split()]
traced = [float(x) for x in sys.argv[2].split()]
p, t = statistics.median(plain), statistics.median(traced)
print("### tracer cost: nginx + ab, a new connection per request, over loopback")
print()
print("| | requests/s (median of 3) | rounds |")
print("|---|---|---|")
print(f"| without the tracer | {p:,.0f} | {', '.join(f'{x:,.0f}' for x in plain)} |")
print(f"| with `tcpdoctor trace` | {t:,.0f} | {', '.join(f'{x:,.0f}' for x in traced)} |")
print()
print(f"throughput with the tracer: {t / p * 100:.1f}% of without ({(1 - t / p) * 100:.1f}% cost)")
print(f"tracer {sys.argv[3]} (load, verify, attach); last round's summary: {sys.argv[4]}")
print(f"the program itself (kernel.bpf_stats_enabled, a round of its own): {sys.argv[5]}")
PY
INNER
