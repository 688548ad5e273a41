#!/usr/bin/env bash
# Installs tcpdoctor on a fresh Debian machine with the Rust toolchain, then
# runs it: the build's Debian packages (build-deps.sh), `cargo install`,
# and a diagnosis of this host. The eBPF sources need root (CAP_BPF and
# CAP_PERFMON); without them tcpdoctor says so and uses netlink and /proc.
set -euo pipefail
cd "$(dirname "$0")"
./build-deps.sh
cargo install --locked --path .
tcpdoctor="$(command -v tcpdoctor || echo "$HOME/.cargo/bin/tcpdoctor")"
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo "$tcpdoctor" "$@"
fi
exec "$tcpdoctor" "$@"
