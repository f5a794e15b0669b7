#!/usr/bin/env bash
# Rebuilds the wasm samples next to their sources with Debian's clang-16 and wasi-libc
# (tests/infra/install-deps.sh installs them). The output is deterministic, so a rebuild leaves
# the committed .wasm files unchanged unless a source changed.
#
#   *.c            a WASI preview 1 command module (httpd.c, hello.c, ...)
#   *-p2.c         a WASI preview 2 command component (hello-p2.c; netcat-p2.c, which exports
#                  wasi:cli/run from C as a reactor)
#   http-hello.c   a wasi:http proxy component (exports wasi:http/incoming-handler)
#
# Debian's wasi-libc has no wasm32-wasip2 target, so every component starts as a preview 1 module
# that is then wrapped with a preview 1 adapter by a throwaway tool built from crates.io
# (wit-component's ComponentEncoder plus the command/proxy adapters that the
# wasi-preview1-component-adapter-provider crate ships, pinned to wasmtime's version). Sources
# that call WASI preview 2 interfaces themselves (netcat-p2.c: wasi:sockets; http-hello.c:
# wasi:http) get C bindings from wit-bindgen-cli for their world in wit/samples.wit; the WASI
# WIT (wasi:*@0.2.12) is the one the wasmtime-wasi-http 48.0.8 crate ships in cargo's registry,
# the interfaces wasmkube's wasmtime links. The tools are built once (about 2 and 5 minutes) into
# ~/.cache/wasmkube, outside the repository. Without cargo (or crates.io) the components are
# skipped and the committed ones kept.
#
# Usage: samples/wasm/build.sh           rebuild everything in place
#        samples/wasm/build.sh --check   build everything twice in temporary directories and
#                                        compare the sha256 sums with each other and with the
#                                        committed files (exit 1 on any difference)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/wasmkube
tool_dir=${P2_TOOL_DIR:-$cache/p1-to-component}
tool="$tool_dir/target/release/p1-to-component"
wit_bindgen_version=0.63.0
wit_bindgen="$cache/wit-bindgen-$wit_bindgen_version/bin/wit-bindgen"
wasi_http_crate=wasmtime-wasi-http-48.0.8

tool_cargo_toml() {
  cat <<'EOF'
[package]
name = "p1-to-component"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
wit-component = "=0.254.2"
wasi-preview1-component-adapter-provider = "=48.0.8"
EOF
}

tool_main_rs() {
  cat <<'EOF'
//! p1-to-component [command|reactor|proxy] MODULE.wasm OUT.wasm: wraps a WASI preview 1 module
//! into a component with the matching preview 1 adapter: `command` (the default) for a
//! wasi:cli/command with `_start`, `proxy` for a wasi:http/proxy component (its adapter imports
//! only what the proxy world offers: stdio, clocks, random), `reactor` for other library worlds.
//! The module may import WASI preview 2 interfaces itself (wit-bindgen bindings); wit-component
//! merges them with the adapter's imports of the same packages.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use wasi_preview1_component_adapter_provider as provider;
    let args: Vec<String> = std::env::args().collect();
    let (kind, input, output) = match args.as_slice() {
        [_, input, output] => ("command", input, output),
        [_, kind, input, output] => (kind.as_str(), input, output),
        _ => return Err("usage: p1-to-component [command|reactor|proxy] MODULE OUT".into()),
    };
    let adapter = match kind {
        "command" => provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        "reactor" => provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        "proxy" => provider::WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER,
        other => return Err(format!("unknown adapter kind {other}").into()),
    };
    let component = wit_component::ComponentEncoder::default()
        .module(&std::fs::read(input)?)?
        .adapter("wasi_snapshot_preview1", adapter)?
        .validate(true)
        .encode()?;
    std::fs::write(output, component)?;
    Ok(())
}
EOF
}

# Builds the adapter tool unless the cached one was built from the sources above.
adapter_tool() {
  if [ -x "$tool" ] && [ "$(tool_cargo_toml)" = "$(cat "$tool_dir/Cargo.toml" 2>/dev/null)" ] &&
    [ "$(tool_main_rs)" = "$(cat "$tool_dir/src/main.rs" 2>/dev/null)" ]; then
    return 0
  fi
  command -v cargo >/dev/null || return 1
  mkdir -p "$tool_dir/src"
  tool_cargo_toml >"$tool_dir/Cargo.toml"
  tool_main_rs >"$tool_dir/src/main.rs"
  echo "building the preview 1 adapter tool in $tool_dir (once, about 2 minutes)" >&2
  (cd "$tool_dir" && nice -n 10 cargo build --release --quiet -j 1) >&2
}

bindgen_tool() {
  [ -x "$wit_bindgen" ] && return 0
  command -v cargo >/dev/null || return 1
  echo "installing wit-bindgen-cli $wit_bindgen_version (C generator only) into $cache (once, about 5 minutes)" >&2
  nice -n 10 cargo install wit-bindgen-cli --version "=$wit_bindgen_version" --locked --quiet -j 1 \
    --no-default-features --features c --root "$cache/wit-bindgen-$wit_bindgen_version" >&2
}

# Prints the WASI WIT directory (wasi:*@0.2.12, one file per package) from cargo's registry;
# fetches the workspace's dependencies once if it is not there yet.
wasi_wit_deps() {
  local attempt dir
  for attempt in 1 2; do
    for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$wasi_http_crate"/wit/deps; do
      [ -d "$dir" ] && { echo "$dir"; return 0; }
    done
    [ "$attempt" = 1 ] && command -v cargo >/dev/null && (cd "$here/../.." && cargo fetch --quiet) >&2 || return 1
  done
  return 1
}

# build_one SOURCE OUTDIR: builds SOURCE into OUTDIR/<name>.wasm, or says why it skips a
# component. Everything is built in a temporary directory first, so a failed build never
# replaces (or deletes) the file in OUTDIR.
build_one() {
  local src=$1 dir=$2 name kind=module world="" deps="" work
  name=$(basename "$src" .c)
  case "$name" in
    http-hello) kind=proxy world=http-hello ;;
    netcat-p2) kind=reactor world=netcat ;; # exports wasi:cli/run itself: see wit/samples.wit
    *-p2) kind=command ;;
  esac
  if [ "$kind" != module ] && ! adapter_tool; then
    echo "skipped $name.wasm: cannot build the adapter tool (needs cargo and crates.io); keeping the committed file" >&2
    return 0
  fi
  if [ -n "$world" ] && ! { bindgen_tool && deps=$(wasi_wit_deps); }; then
    echo "skipped $name.wasm: needs wit-bindgen-cli and the $wasi_http_crate WIT (cargo); keeping the committed file" >&2
    return 0
  fi
  work=$(mktemp -d)
  local extra=() model=()
  if [ -n "$world" ]; then
    # wit-bindgen reads a directory: the samples' worlds plus the WASI packages as deps/.
    mkdir "$work/wit"
    cp "$here/wit/samples.wit" "$work/wit/"
    ln -s "$deps" "$work/wit/deps"
    if ! "$wit_bindgen" c "$work/wit" --world "$world" --out-dir "$work/gen" >"$work/bindgen.log" 2>&1; then
      cat "$work/bindgen.log" >&2
      return 1
    fi
    local stem=${world//-/_}
    # The *_component_type.o object carries the world as a custom section for wit-component.
    extra=(-I"$work/gen" "$work/gen/$stem.c" "$work/gen/${stem}_component_type.o")
  fi
  # A reactor has no C main: the host calls the world's exports (wasi:http/incoming-handler per
  # request; wasi:cli/run once) after wit-component's start function ran `_initialize`.
  case "$kind" in proxy | reactor) model=(-mexec-model=reactor) ;; esac
  clang-16 --target=wasm32-wasi "${model[@]}" -O2 -Wl,--strip-all -o "$work/module.wasm" "$src" "${extra[@]}"
  if [ "$kind" = module ]; then
    mv "$work/module.wasm" "$work/out.wasm"
  else
    "$tool" "$kind" "$work/module.wasm" "$work/out.wasm"
  fi
  mv "$work/out.wasm" "$dir/$name.wasm"
  rm -rf "$work"
  echo "built $name.wasm ($(stat -c %s "$dir/$name.wasm") bytes)"
}

build_all() {
  local src
  for src in "$here"/*.c; do
    build_one "$src" "$1"
  done
}

if [ "${1:-}" = --check ]; then
  first=$(mktemp -d) second=$(mktemp -d)
  trap 'rm -rf "$first" "$second"' EXIT
  build_all "$first" >/dev/null
  build_all "$second" >/dev/null
  status=0
  for built in "$first"/*.wasm; do
    [ -e "$built" ] || continue
    name=$(basename "$built")
    a=$(sha256sum <"$built" | cut -d' ' -f1)
    b=$(sha256sum <"$second/$name" | cut -d' ' -f1)
    c=$(sha256sum <"$here/$name" 2>/dev/null | cut -d' ' -f1 || true)
    if [ "$a" != "$b" ]; then
      echo "NOT DETERMINISTIC $name: $a vs $b"; status=1
    elif [ "$a" != "$c" ]; then
      echo "DIFFERS FROM COMMITTED $name: built $a, committed ${c:-missing}"; status=1
    else
      echo "ok $name $a"
    fi
  done
  exit "$status"
fi
build_all "$here"
