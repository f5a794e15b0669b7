#!/usr/bin/env bash
# Rebuilds every samples/wasm/*.c into a WASI preview 1 module next to it with Debian's clang-16
# and wasi-libc (tests/infra/install-deps.sh installs them). The output is deterministic, so a
# rebuild leaves the committed .wasm files unchanged unless a source changed.
# Usage: samples/wasm/build.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for src in "$here"/*.c; do
  out="${src%.c}.wasm"
  clang-16 --target=wasm32-wasi -O2 -Wl,--strip-all -o "$out" "$src"
  echo "built $(basename "$out") ($(stat -c %s "$out") bytes)"
done
