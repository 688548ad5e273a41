#!/usr/bin/env bash
# Regenerates the BPF objects that the build embeds from their C sources.
# Users never run this (the objects are committed, so no one needs clang to
# build tcpdoctor); run it after changing a .c or .h file here, and commit
# both. `build.sh --check` (CI) fails when a committed object differs from
# what its source compiles to. Needs clang and libbpf-dev (Debian).
set -euo pipefail
cd "$(dirname "$0")"
out=.
if [ "${1:-}" = "--check" ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
for src in census walk owners closers; do
    # -g for BTF (CO-RE needs it), then the DWARF is stripped: BTF stays.
    # The prefix map keeps this checkout's path out of the BTF line info,
    # so that the object is the same wherever it is built.
    clang -g -O2 -target bpf -Wall -Werror -fdebug-prefix-map="$PWD"=. \
        -c "$src.bpf.c" -o "$out/$src.bpf.o"
    llvm-strip -g "$out/$src.bpf.o"
done
if [ "$out" != . ]; then
    for src in census walk owners closers; do
        if ! cmp -s "$out/$src.bpf.o" "$src.bpf.o"; then
            echo "bpf/$src.bpf.o is not what $src.bpf.c compiles to: run bpf/build.sh and commit" >&2
            exit 1
        fi
    done
    echo "bpf: every object matches its source"
fi
