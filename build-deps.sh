#!/usr/bin/env bash
# The Debian packages the build links statically (libbpf-sys builds libbpf
# and links libelf and zlib into the binary, so the binary itself needs no
# shared library beyond libc). Installs the missing ones when root; else
# says what to install. Used by install.sh, test.sh and CI.
set -euo pipefail
need=()
for pkg in libelf-dev zlib1g-dev libzstd-dev pkg-config make; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
# Only to check that the committed BPF objects match their sources (CI).
if [ "${1:-}" = "--bpf-toolchain" ]; then
    for pkg in clang llvm libbpf-dev; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
    done
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "build-deps.sh: installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1; then
    echo "build-deps.sh: installing ${need[*]} (sudo)" >&2
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
    echo "build-deps.sh: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
    exit 1
fi
