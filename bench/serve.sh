#!/usr/bin/env bash
# What a scrape of `tcpdoctor serve` costs against a census, on the same
# population (200k sockets by default), and how long a full refresh
# (owners, findings) takes. Scrapes here take their own census each
# (--census-cache 0) and the full refresh is kept out of the timed window.
#
#   bench/serve.sh [SCALE]
#
# Needs root. Results: bench/results/serve-<scale>.{json,md}.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }

s=${1:-200k}
farm_up "$s" tdserve
n=$(sockets_in_farm)
port=19753
in_farm bash -c "$TD serve --listen 127.0.0.1:$port --census-cache 0 --full-interval 3600 >/dev/null 2>/tmp/tdserve.err & echo \$! > /tmp/tdserve.pid"
trap 'in_farm bash -c "kill \$(cat /tmp/tdserve.pid)" 2>/dev/null; cleanup' EXIT INT TERM
in_farm bash -c "until curl -sf -o /dev/null http://127.0.0.1:$port/healthz; do sleep 0.2; done"
in_farm hyperfine -N --warmup 2 --min-runs 10 --export-json "$OUT/serve-$s.json" \
    -n census "$TD census" \
    -n scrape "curl -sf -o /dev/null http://127.0.0.1:$port/metrics" >&2
{
    table "$OUT/serve-$s.json" "$s" "$n" census
    echo "full refresh (owners, ages, findings): $(in_farm curl -sf http://127.0.0.1:$port/metrics | awk '/^tcpdoctor_full_refresh_duration_seconds/ {printf "%.2f s", $2}')"
    echo "exporter RSS after the run: $(in_farm bash -c "grep VmRSS /proc/\$(cat /tmp/tdserve.pid)/status" | awk '{print int($2/1024)}') MiB"
    echo
} | tee "$OUT/serve-$s.md"
