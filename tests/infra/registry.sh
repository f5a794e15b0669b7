#!/usr/bin/env bash
# Starts / stops two local OCI registries (Debian's docker-registry) on free 127.0.0.1 ports:
#   DIR/plain.addr  anonymous registry
#   DIR/auth.addr   htpasswd basic-auth registry (user `tester`, password in DIR/auth.password)
# Usage: registry.sh start DIR | registry.sh stop DIR
set -euo pipefail

cmd=${1:?usage: registry.sh start|stop DIR}
dir=${2:?usage: registry.sh start|stop DIR}

port_free() { ! (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if port_free "$p"; then echo "$p"; return 0; fi
  done
  echo "registry.sh: no free port found" >&2; return 1
}

start_one() { # name port [auth-block]
  local name=$1 port=$2 auth=${3:-}
  mkdir -p "$dir/$name/data"
  cat >"$dir/$name/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/$name/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: wasmkube-test-secret
$auth
YAML
  setsid /usr/bin/docker-registry serve "$dir/$name/config.yml" </dev/null >>"$dir/$name/registry.log" 2>&1 &
  echo $! >"$dir/$name.pid"
  for _ in $(seq 1 100); do
    # Any HTTP answer (200, or 401 for the auth registry) means it is up.
    if curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; then
      echo "127.0.0.1:$port" >"$dir/$name.addr"
      return 0
    fi
    sleep 0.05
  done
  echo "registry.sh: $name registry did not start; log:" >&2
  cat "$dir/$name/registry.log" >&2
  return 1
}

stop_one() {
  local pidfile="$dir/$1.pid"
  [ -f "$pidfile" ] || return 0
  local pid; pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile" "$dir/$1.addr"
}

case "$cmd" in
  start)
    [ -x /usr/bin/docker-registry ] || { echo "registry.sh: docker-registry missing (run install-deps.sh)" >&2; exit 1; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    start_one plain "$(free_port)"
    password=tester-pw-$RANDOM
    echo -n "$password" >"$dir/auth.password"
    htpasswd -Bbn tester "$password" >"$dir/htpasswd"
    start_one auth "$(free_port)" "auth:
  htpasswd:
    realm: wasmkube-test
    path: $dir/htpasswd"
    ;;
  stop)
    stop_one plain
    stop_one auth
    ;;
  *) echo "usage: registry.sh start|stop DIR" >&2; exit 2 ;;
esac
