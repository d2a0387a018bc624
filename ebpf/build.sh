#!/usr/bin/env bash
# Compiles usage.bpf.c into usage.bpf.o, the object receivers/ebpf_usage embeds, so that
# `cargo build` needs Rust only. Needs Debian's clang, llvm and libbpf-dev.
#
#   bash ebpf/build.sh           rebuild the object (commit it with the source)
#   bash ebpf/build.sh --check   fail if the committed object is not what the source compiles to
set -euo pipefail
cd "$(dirname "$0")"

output=usage.bpf.o
if [ "${1:-}" = "--check" ]; then
  output=$(mktemp --suffix=.bpf.o)
  trap 'rm -f "$output"' EXIT
fi

# -g gives the BTF that CO-RE and the map definitions need; DWARF is stripped afterwards, and
# paths are made relative, so the same source compiles to the same bytes on any machine.
clang -target bpf -O2 -g -mcpu=v3 -Wall -Werror \
  -I"/usr/include/$(uname -m)-linux-gnu" \
  -ffile-prefix-map="$PWD"=. \
  -c usage.bpf.c -o "$output"
llvm-strip --strip-debug "$output"

if [ "${1:-}" = "--check" ]; then
  if ! cmp -s "$output" usage.bpf.o; then
    echo "ebpf/usage.bpf.o does not match ebpf/usage.bpf.c: run 'bash ebpf/build.sh' and commit the object" >&2
    exit 1
  fi
  echo "ebpf/usage.bpf.o matches its source"
fi
