#!/usr/bin/env bash
# Rebuilds every samples/wasm/*.c into a WASI preview 1 module next to it with Debian's clang-16
# and wasi-libc (tests/infra/install-deps.sh installs them). The output is deterministic, so a
# rebuild leaves the committed .wasm files unchanged unless a source changed.
#
# Sources named *-p2.c become WASI preview 2 command components instead: Debian's wasi-libc has no
# wasm32-wasip2 target, so the preview 1 module is wrapped with the preview 1 adapter by a
# throwaway tool built from crates.io (wit-component's ComponentEncoder plus the adapter that the
# wasi-preview1-component-adapter-provider crate ships, pinned to wasmtime's version). The tool is
# built once (about 2 minutes) into $P2_TOOL_DIR, outside the repository. Without cargo it skips
# the components and keeps the committed ones.
# Usage: samples/wasm/build.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tool_dir=${P2_TOOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmkube/p1-to-component}
tool="$tool_dir/target/release/p1-to-component"

build_adapter_tool() {
  mkdir -p "$tool_dir/src"
  cat >"$tool_dir/Cargo.toml" <<'EOF'
[package]
name = "p1-to-component"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
wit-component = "=0.254.2"
wasi-preview1-component-adapter-provider = "=48.0.8"
EOF
  cat >"$tool_dir/src/main.rs" <<'EOF'
//! p1-to-component MODULE.wasm OUT.wasm: wraps a WASI preview 1 command module into a
//! wasi:cli/command component with the preview 1 command adapter.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else { return Err("usage: p1-to-component MODULE OUT".into()) };
    let adapter = wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER;
    let component = wit_component::ComponentEncoder::default()
        .module(&std::fs::read(input)?)?
        .adapter("wasi_snapshot_preview1", adapter)?
        .validate(true)
        .encode()?;
    std::fs::write(output, component)?;
    Ok(())
}
EOF
  echo "building the preview 1 adapter tool in $tool_dir (once, about 2 minutes)"
  (cd "$tool_dir" && nice -n 10 cargo build --release --quiet)
}

for src in "$here"/*.c; do
  out="${src%.c}.wasm"
  case "$src" in
    *-p2.c)
      if [ ! -x "$tool" ] && ! { command -v cargo >/dev/null && build_adapter_tool; }; then
        echo "skipped $(basename "$out"): cannot build the adapter tool (needs cargo and crates.io); keeping the committed file"
        continue
      fi
      module=$(mktemp --suffix=.wasm)
      clang-16 --target=wasm32-wasi -O2 -Wl,--strip-all -o "$module" "$src"
      "$tool" "$module" "$out"
      rm -f "$module"
      ;;
    *) clang-16 --target=wasm32-wasi -O2 -Wl,--strip-all -o "$out" "$src" ;;
  esac
  echo "built $(basename "$out") ($(stat -c %s "$out") bytes)"
done
