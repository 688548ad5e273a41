#!/usr/bin/env bash
# Times `tcpdoctor analyze --view census` on a 1M-line `ss -tan` dump
# against the awk census of the same file, and reports peak RSS.
#
#   bench/analyze.sh
#
# The dump is real: `ss -tan` of a 500k-pair socket farm (1M sockets),
# written to /tmp and removed at the end. Needs root (for the farm).
# Results: bench/results/analyze-1m.{json,md}.
. "$(dirname "$0")/lib.sh"

DUMP=$(mktemp /tmp/tcpdoctor-ss-tan-XXXXXX.txt)
trap 'cleanup; rm -f "$DUMP"' EXIT INT TERM
farm_up 1m tdanalyze
in_farm ss -tan > "$DUMP"
farm_down
lines=$(wc -l < "$DUMP")
echo "== $lines lines, $(du -h "$DUMP" | cut -f1)" >&2
AWK="awk 'NR>1 {++S[\$1]} END {for(a in S) print a, S[a]}' $DUMP"
hyperfine --warmup 1 --min-runs 5 --export-json "$OUT/analyze-1m.json" \
    -n tcpdoctor "$TD analyze --view census $DUMP" \
    -n awk "$AWK" >&2
{
    table "$OUT/analyze-1m.json" "ss -tan dump" "$lines" tcpdoctor
    echo "peak RSS: tcpdoctor $(($(/usr/bin/time -v "$TD" analyze --view census "$DUMP" 2>&1 >/dev/null | awk '/Maximum resident/ {print $6}') / 1024)) MiB," \
        "awk $(($(/usr/bin/time -v awk 'NR>1 {++S[$1]}' "$DUMP" 2>&1 >/dev/null | awk '/Maximum resident/ {print $6}') / 1024)) MiB"
    echo
} | tee "$OUT/analyze-1m.md"
