#!/usr/bin/env bash
# What `tcpdoctor watch` costs: CPU time per second of watching at a 1 s
# interval, and the size of its recording per hour, on the same farm
# populations as bench/census.sh.
#
#   bench/watch.sh [SCALE...]      SCALE: 10k 200k 1m (default: 10k 200k)
#
# Each run: `watch --json --interval 1 --count 60 --record FILE` inside the
# farm, timed by GNU time. Needs root. Results: bench/results/watch.md.
. "$(dirname "$0")/lib.sh"
SAMPLES=${SAMPLES:-60}
{
    echo "### watch: ${SAMPLES} samples at a 1 s interval"
    echo
    echo "| sockets | CPU (user+sys) per second watched | share of one core | detailed samples | recording per sample | per hour |"
    echo "|---|---|---|---|---|---|"
} > "$OUT/watch.md"
for s in ${@:-10k 200k}; do
    farm_up "$s" tdwatch
    n=$(sockets_in_farm)
    rec=$(mktemp --suffix .gz)
    in_farm /usr/bin/time -f '%U %S %e' -o "$OUT/watch-$s.time" \
        "$TD" watch --json --interval 1 --count "$SAMPLES" --record "$rec" > "$OUT/watch-$s.ndjson"
    read -r user sys wall < "$OUT/watch-$s.time"
    fresh=$(grep -c '"owners_fresh":true' "$OUT/watch-$s.ndjson" || true)
    bytes=$(stat -c %s "$rec")
    rm -f "$rec"
    python3 - "$n" "$user" "$sys" "$wall" "$fresh" "$bytes" "$SAMPLES" >> "$OUT/watch.md" <<'PY'
import sys
n, user, sys_, wall, fresh, size, samples = sys.argv[1:8]
cpu = float(user) + float(sys_)
wall = float(wall)
per = int(size) / int(samples)
print(f"| {int(n):,} | {cpu / wall * 1000:.0f} ms | {cpu / wall * 100:.1f}% | {fresh} of {samples} | "
      f"{per / 1024:.1f} KiB | {per * 3600 / 1e6:.1f} MB |")
PY
    farm_down
done
cat "$OUT/watch.md"
