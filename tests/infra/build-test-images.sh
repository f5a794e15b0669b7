#!/usr/bin/env bash
# Builds the test images from busybox-static with umoci and pushes them to the registries that
# `registry.sh start DIR` wrote into DIR. Deterministic: fixed mtimes and creation dates, so the
# digests are the same on every run. Pushed to DIR/plain.addr:
#   busybox:1.0          OCI manifest, 1 layer, Cmd /bin/sh, Env PATH=/bin
#   busybox:1.0-docker   the same as a Docker schema2 manifest
#   busybox:1.0-index    OCI index: linux/arm64 -> wasm/hello:1.0 (a decoy), linux/amd64 -> busybox:1.0
#   layered:1.0          busybox + 2 layers; the last has whiteouts: /data/a.txt=v2, /data/c.txt,
#                        no /data/b.txt, no /bin/vi
#   corrupt:1.0          busybox + 1 layer of its own (tests corrupt that layer in the registry)
#   wasm-image:1.0       a plain image whose single layer is /hello.wasm, Entrypoint /hello.wasm
#   wasm/hello:1.0       wasm OCI artifact (config application/vnd.wasm.config.v0+json, layer application/wasm)
# and busybox:1.0 to DIR/auth.addr (basic auth, user tester).
# Usage: build-test-images.sh DIR
set -euo pipefail

dir=$(cd "${1:?usage: build-test-images.sh DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
plain=$(cat "$dir/plain.addr")
auth=$(cat "$dir/auth.addr")
password=$(cat "$dir/auth.password")
work="$dir/build"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
L="$work/layout"
EPOCH=946684800
CREATED=2000-01-01T00:00:00Z

fix_mtimes() { find "$1" -exec touch -h -d "@$EPOCH" {} +; }
repack() { # tag created_by
  fix_mtimes bundle/rootfs
  umoci repack --history.created "$CREATED" --history.created_by "$2" --image "$L:$1" bundle
}
push() { # layout-tag registry-ref [extra skopeo args...]
  local tag=$1 ref=$2; shift 2
  skopeo copy -q --dest-tls-verify=false "$@" "oci:$L:$tag" "docker://$ref"
}

# --- busybox base ---
umoci init --layout "$L"
umoci new --image "$L:empty"
umoci unpack --image "$L:empty" bundle
R=bundle/rootfs
mkdir -p $R/bin $R/etc $R/proc $R/sys $R/dev $R/tmp $R/root && chmod 1777 $R/tmp
cp /bin/busybox $R/bin/
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >$R/etc/passwd; echo 'root:x:0:' >$R/etc/group
repack busybox "busybox rootfs"
umoci config --no-history --created "$CREATED" --image "$L:busybox" \
  --os linux --architecture amd64 --config.env PATH=/bin --config.cmd /bin/sh
rm -rf bundle

# --- layered: two more layers, the last with whiteouts ---
umoci unpack --image "$L:busybox" bundle
mkdir -p bundle/rootfs/data
echo v1 >bundle/rootfs/data/a.txt; echo b >bundle/rootfs/data/b.txt
fix_mtimes bundle/rootfs
umoci repack --refresh-bundle --history.created "$CREATED" --history.created_by "data v1" --image "$L:layered-2" bundle
echo v2 >bundle/rootfs/data/a.txt; rm bundle/rootfs/data/b.txt bundle/rootfs/bin/vi; echo c >bundle/rootfs/data/c.txt
repack layered "data v2"
rm -rf bundle

# --- corrupt: a layer no other image has ---
umoci unpack --image "$L:busybox" bundle
echo "only in corrupt:1.0" >bundle/rootfs/corrupt-me
repack corrupt "corrupt layer"
rm -rf bundle

# --- wasm module built for the samples ---
wasm="$here/../../samples/wasm/hello.wasm"
if command -v clang-16 >/dev/null && [ -f /usr/lib/wasm32-wasi/libc.a ]; then
  clang-16 --target=wasm32-wasi -O2 -Wl,--strip-all -o "$work/hello.wasm" "$here/../../samples/wasm/hello.c"
  wasm="$work/hello.wasm"
fi

# --- wasm-image: a plain image with one .wasm file ---
umoci new --image "$L:wasm-image"
umoci unpack --image "$L:wasm-image" bundle
cp "$wasm" bundle/rootfs/hello.wasm
repack wasm-image "hello.wasm"
umoci config --no-history --created "$CREATED" --image "$L:wasm-image" \
  --os linux --architecture amd64 --config.entrypoint /hello.wasm
rm -rf bundle

push busybox "$plain/busybox:1.0"
push busybox "$plain/busybox:1.0-docker" --format v2s2
push layered "$plain/layered:1.0"
push corrupt "$plain/corrupt:1.0"
push wasm-image "$plain/wasm-image:1.0"
push busybox "$auth/busybox:1.0" --dest-creds "tester:$password"

# --- wasm artifact through the registry HTTP API ---
upload_blob() { # registry repo file
  local d loc
  d=$(sha256sum "$3" | cut -d' ' -f1)
  if curl -fsS -o /dev/null -I "http://$1/v2/$2/blobs/sha256:$d" 2>/dev/null; then return 0; fi
  loc=$(curl -fsS -X POST -D - -o /dev/null "http://$1/v2/$2/blobs/uploads/" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="location"{print $2}')
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$3" "$loc&digest=sha256:$d"
}
put_manifest() { # registry repo tag media-type file
  curl -fsS -X PUT -H "Content-Type: $4" --data-binary "@$5" "http://$1/v2/$2/manifests/$3"
}
W=$(sha256sum "$wasm" | cut -d' ' -f1); WS=$(stat -c %s "$wasm")
printf '{"architecture":"wasm","created":"%s","layerDigests":["sha256:%s"],"os":"wasip1"}' "$CREATED" "$W" >wasm-config.json
C=$(sha256sum wasm-config.json | cut -d' ' -f1); CS=$(stat -c %s wasm-config.json)
upload_blob "$plain" wasm/hello "$wasm"
upload_blob "$plain" wasm/hello wasm-config.json
cat >wasm-manifest.json <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.wasm.config.v0+json","digest":"sha256:$C","size":$CS},"layers":[{"mediaType":"application/wasm","digest":"sha256:$W","size":$WS}]}
JSON
put_manifest "$plain" wasm/hello 1.0 application/vnd.oci.image.manifest.v1+json wasm-manifest.json

# --- busybox:1.0-index: an index whose first entry is for another platform ---
accept='Accept: application/vnd.oci.image.manifest.v1+json'
curl -fsS -H "$accept" "http://$plain/v2/busybox/manifests/1.0" >bb-manifest.json
BB=$(sha256sum bb-manifest.json | cut -d' ' -f1); BBS=$(stat -c %s bb-manifest.json)
# An index may only reference manifests of its own repository: copy the decoy in.
for f in "$wasm" wasm-config.json; do upload_blob "$plain" busybox "$f"; done
put_manifest "$plain" busybox wasm-decoy application/vnd.oci.image.manifest.v1+json wasm-manifest.json
WM=$(sha256sum wasm-manifest.json | cut -d' ' -f1); WMS=$(stat -c %s wasm-manifest.json)
cat >bb-index.json <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$WM","size":$WMS,"platform":{"architecture":"arm64","os":"linux"}},
{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$BB","size":$BBS,"platform":{"architecture":"amd64","os":"linux"}}]}
JSON
put_manifest "$plain" busybox 1.0-index application/vnd.oci.image.index.v1+json bb-index.json

echo "build-test-images: pushed to $plain and $auth"
