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
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "test.sh: installing ${need[*]}" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "test.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
        exit 1
    fi
fi

cargo test --workspace --all-targets --locked
