#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine of this kind.
# Installs what the tests call (ss, ip, netstat) when it is missing, then
# runs every test of the workspace. The real-kernel tests need root (they
# create network namespaces); CI runs as root.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v ss >/dev/null 2>&1 || need+=(iproute2)
command -v netstat >/dev/null 2>&1 || need+=(net-tools)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# Real software the diagnosis is tested against (tests/it/real_software.rs).
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v ab >/dev/null 2>&1 || need+=(apache2-utils)
command -v curl >/dev/null 2>&1 || need+=(curl)
# PostgreSQL and pgbench (tests/it/real_software/closers.rs): the test
# makes a cluster of its own in its private namespace.
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
# The terminal UI is tested in a real terminal (tests/it/watch.rs).
command -v tmux >/dev/null 2>&1 || need+=(tmux)
# The exporter's page is tested in a real browser (tests/it/page.rs).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "test.sh: installing ${need[*]}" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "test.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
        exit 1
    fi
fi

# What the build links statically (libelf, zlib, zstd), as install.sh does.
./build-deps.sh

# redis-py and requests, the client libraries of the Redis and HTTP
# situations (PyPI).
for module in redis requests; do
    if ! python3 -c "import $module" >/dev/null 2>&1; then
        python3 -m pip install --quiet --disable-pip-version-check "$module" >/dev/null 2>&1 \
            || { echo "test.sh: pip install $module failed" >&2; exit 1; }
    fi
done

# Every library, binary and integration test (examples are built by clippy
# in CI, not run): each crate's unit tests, and one integration test binary
# per crate (tests/it, crates/tcpdoctor-core/tests/it). Tests that need root
# are marked #[ignore = "needs root"]: as root (CI) they all run; without
# root they are reported as skipped, never as passed. The fixture capture
# (capture_fixtures::capture_every_state_fixtures) is a tool, not a test:
# it never runs here. The last line sums up all test binaries.
ignored=()
if [ -n "${CI:-}" ] && [ "$(id -u)" -ne 0 ]; then
    # A CI that cannot run the real-kernel tests must not pass on skips.
    echo "test.sh: CI must run as root: the real-kernel tests create network namespaces" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    ignored=(--include-ignored --skip capture_every_state_fixtures)
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --lib --bins --tests --locked --no-fail-fast -- "${ignored[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1); if ($(i) ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped (need root, or tools that are not tests)\n", p, f, s }' "$log"
exit "$status"
