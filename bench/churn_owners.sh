#!/usr/bin/env bash
# Owners under churn: of the sockets `tcpdoctor sockets` lists with a file
# (an inode: a process held it when the kernel dumped it), how many it
# shows without an owner, while four clients open and close 100
# connections a second each (400/s in all) against nginx and one more holds
# 1,000 idle keep-alive connections to it.
#
#   bench/churn_owners.sh [LISTINGS]      default 20 listings
#
# Runs in a private network namespace (unshare -n), loopback only; nginx
# and the clients are this script's own children, stopped on exit. Needs
# root and nginx-light. Results: bench/results/churn-owners.md.
. "$(dirname "$0")/lib.sh"
LISTINGS=${1:-20}
command -v nginx >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null

export TD LISTINGS
unshare -n bash -euo pipefail <<'INNER' | tee "$OUT/churn-owners.md"
ip link set lo up
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait; rm -rf "$dir"' EXIT
nginx_conf "$dir" 600
nginx -c "$dir/nginx.conf" & pids+=($!)
until python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8080)).close()' 2>/dev/null; do :; done
# 1,000 idle keep-alive connections, held until stdin closes.
python3 -c '
import socket, sys
held = []
for _ in range(1000):
    s = socket.create_connection(("127.0.0.1", 8080))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); s.recv(4096)
    held.append(s)
print("held", flush=True)
sys.stdin.read()
' > "$dir/held" < <(sleep infinity) & pids+=($!)
until grep -q held "$dir/held" 2>/dev/null; do :; done
# Four clients, 100 new connections a second each, on a fixed schedule.
for c in 1 2 3 4; do
    python3 -c '
import socket, time
t = time.monotonic()
while True:
    s = socket.create_connection(("127.0.0.1", 8080))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    while s.recv(4096):
        pass
    s.close()
    t += 0.01
    time.sleep(max(0.0, t - time.monotonic()))
' & pids+=($!)
done
for i in $(seq "$LISTINGS"); do "$TD" sockets --json > "$dir/l$i.json"; done
python3 - "$dir" "$LISTINGS" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
with_file = unowned = rows = 0
worst = 0.0
for i in range(1, n + 1):
    r = json.load(open(f"{d}/l{i}.json"))
    rows += len(r)
    f = [x for x in r if x["inode"] != 0]
    u = [x for x in f if not x["owners"]]
    with_file += len(f)
    unowned += len(u)
    worst = max(worst, len(u) / max(len(f), 1))
print("### owners under churn: 4 clients x 100 connections/s + 1,000 idle, nginx, loopback")
print()
print(f"{n} listings, {rows / n:,.0f} sockets each on average, {with_file / n:,.0f} with a file")
print(f"with a file but no owner: {unowned} of {with_file} ({unowned / with_file * 100:.3f}%), "
      f"worst listing {worst * 100:.3f}%")
PY
INNER
