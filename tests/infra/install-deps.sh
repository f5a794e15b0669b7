#!/usr/bin/env bash
# Installs the Debian packages the image tests need, only those that are missing.
# Idempotent: a second run with everything present does nothing (no `apt-get update` either).
#
#   docker-registry  the OCI registry (distribution 2.8) the tests pull from
#   skopeo umoci     build and push busybox-based test images; the `bench images` peer
#   busybox-static   the rootfs of every test image
#   apache2-utils    htpasswd, for the basic-auth registry
#   curl             pushes wasm artifacts through the registry HTTP API
#   clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32   compile the wasm samples
#   iproute2 procps util-linux   `ip`, `pgrep`, `nsenter`: the networking tests look into namespaces
set -euo pipefail

# package -> a file it installs, to tell whether it is present without dpkg-query per package.
declare -A probe=(
  [docker-registry]=/usr/bin/docker-registry
  [skopeo]=/usr/bin/skopeo
  [umoci]=/usr/bin/umoci
  [busybox-static]=/bin/busybox
  [apache2-utils]=/usr/bin/htpasswd
  [curl]=/usr/bin/curl
  [clang-16]=/usr/bin/clang-16
  [lld-16]=/usr/bin/wasm-ld-16
  [wasi-libc]=/usr/lib/wasm32-wasi/libc.a
  [libclang-rt-16-dev-wasm32]=/usr/lib/llvm-16/lib/clang/16/lib/wasi/libclang_rt.builtins-wasm32.a
  [iproute2]=/usr/sbin/ip
  [procps]=/usr/bin/pgrep
  [util-linux]=/usr/bin/nsenter
)

missing=()
for pkg in "${!probe[@]}"; do
  [ -e "${probe[$pkg]}" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]} and not root; install them by hand" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
