#!/usr/bin/env bash
# Times owner lookups: `tcpdoctor sockets` (every socket with its process
# and fd) against `ss -tanp` on the same population, plus the narrower
# CLOSE_WAIT query and `census --by process`, and the bare /proc/*/fd scan.
# Owners come from the eBPF fd iterator where allowed (the default); the
# `-proc` variants force the /proc/*/fd scan (TCPDOCTOR_NO_BPF=1).
#
#   bench/owners.sh [SCALE...]      SCALE: 10k 100k 200k 1m (default: 10k 100k 200k)
#
# At 1m, `ss -tanp` over every socket takes many minutes: it is left out
# there (OWNERS_SS_1M=1 runs it, twice).
# Needs root. Results: bench/results/owners-<scale>.{json,md}.
. "$(dirname "$0")/lib.sh"

for s in ${@:-10k 100k 200k}; do
    farm_up "$s" tdowners
    n=$(sockets_in_farm)
    runs=(--min-runs 3 --max-runs 10)
    ss=(-n ss-tanp "ss -tanp > /dev/null")
    if [[ $s == 1m ]]; then
        runs=(--runs 2)
        [[ -n ${OWNERS_SS_1M:-} ]] || ss=()
    fi
    in_farm hyperfine --warmup 1 "${runs[@]}" --export-json "$OUT/owners-$s.json" \
        -n tcpdoctor-sockets "$TD sockets > /dev/null" \
        "${ss[@]}" \
        -n tcpdoctor-sockets-proc "TCPDOCTOR_NO_BPF=1 $TD sockets > /dev/null" \
        -n tcpdoctor-census-by-process "$TD census --by process > /dev/null" \
        -n tcpdoctor-census-by-process-proc "TCPDOCTOR_NO_BPF=1 $TD census --by process > /dev/null" \
        -n tcpdoctor-close-wait "$TD sockets --state close-wait > /dev/null" \
        -n ss-tanp-close-wait "ss -tanp state close-wait > /dev/null" \
        -n owner-scan "$EXAMPLES/owner_scan > /dev/null" >&2
    {
        table "$OUT/owners-$s.json" "$s" "$n" tcpdoctor-sockets
        python3 - "$OUT/owners-$s.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
if "ss-tanp" in r:
    print(f"ss -tanp / census --by process: {r['ss-tanp'] / r['tcpdoctor-census-by-process']:.1f}x "
          f"with the eBPF pass, {r['ss-tanp'] / r['tcpdoctor-census-by-process-proc']:.1f}x "
          f"with the /proc scan")
PY
        # The two owner sources must agree on this population (notes aside).
        # (notes and the census's source aside: the eBPF pass counts with
        # the hash walk, the fallback with netlink).
        norm='import json,sys; d=json.load(sys.stdin); d["notes"]=[]; d["source"]=""; print(json.dumps(d, sort_keys=True))'
        diff <(in_farm "$TD" census --by process --top 1000 --json | python3 -c "$norm") \
             <(in_farm env TCPDOCTOR_NO_BPF=1 "$TD" census --by process --top 1000 --json \
               | python3 -c "$norm") \
            >/dev/null && echo "owners: the eBPF iterator and the /proc scan agree" \
            || echo "owners: the eBPF iterator and the /proc scan DIFFER"
        echo "open fds in the farm: $(in_farm bash -c 'ls /proc/[0-9]*/fd 2>/dev/null | grep -c "^[0-9]"')"
        echo "peak RSS: tcpdoctor sockets $(($(peak_rss "/usr/bin/time -v $TD sockets") / 1024)) MiB," \
            "census --by process $(($(peak_rss "/usr/bin/time -v $TD census --by process") / 1024)) MiB"
        echo
    } | tee "$OUT/owners-$s.md"
    farm_down
done
