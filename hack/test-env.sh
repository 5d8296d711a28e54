#!/usr/bin/env bash
# Liftoff's shared test environment (root, idempotent):
#   hack/test-env.sh start   start local registries and push the test images
#   hack/test-env.sh stop    stop them and remove their state
#   hack/test-env.sh status
#
# Registries (Debian's docker-registry, each with its own config and storage under $STATE):
#   127.0.0.1:5000  plain HTTP, anonymous — LIFTOFF_TEST_REGISTRY
#   127.0.0.1:5001  plain HTTP, anonymous, a mirror: holds the same images — LIFTOFF_TEST_MIRROR
#   127.0.0.1:5443  HTTPS with a CA generated here + htpasswd basic auth — LIFTOFF_TEST_TLS_REGISTRY,
#                   LIFTOFF_TEST_TLS_CA, LIFTOFF_TEST_TLS_USER, LIFTOFF_TEST_TLS_PASSWORD
#   127.0.0.1:5002  bearer-token front of :5000 (hack/token-registry.py): anonymous and user tokens,
#                   `liftoff-test/private-*` needs the user's; blobs redirect — LIFTOFF_TEST_TOKEN_REGISTRY
# Images pushed to each (built by hack/build-test-images.py from busybox-static, no Docker):
#   liftoff-test/busybox:latest  liftoff-test/web:latest  liftoff-test/layers:latest
#   liftoff-test/multiarch:latest (OCI index)  liftoff-test/docker:latest (Docker v2s2)
#   liftoff-test/dockerlist:latest (Docker manifest list)
# The variables above are written to $ENV_FILE (default /run/liftoff-test/env) for test runners:
#   . /run/liftoff-test/env && swift test …
set -euo pipefail

STATE=${LIFTOFF_TEST_STATE:-/run/liftoff-test}
ENV_FILE=${LIFTOFF_TEST_ENV_FILE:-$STATE/env}
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REGISTRY_BIN=${REGISTRY_BIN:-/usr/bin/docker-registry}
USER_NAME=liftoff
PASSWORD=liftoff-test-password

die() { echo "test-env: $*" >&2; exit 1; }

# name port tls(0|1)
write_config() {
  local name=$1 port=$2 tls=$3 dir=$STATE/$1
  mkdir -p "$dir/storage"
  {
    echo "version: 0.1"
    echo "log: {level: warn, accesslog: {disabled: true}}"
    echo "storage: {filesystem: {rootdirectory: $dir/storage}, delete: {enabled: true}}"
    echo "http:"
    echo "  addr: 127.0.0.1:$port"
    echo "  secret: liftoff-test-$name"
    if [[ $tls == 1 ]]; then
      echo "  tls: {certificate: $STATE/tls/server.crt, key: $STATE/tls/server.key}"
      echo "auth: {htpasswd: {realm: liftoff-test, path: $STATE/tls/htpasswd}}"
    fi
  } >"$dir/config.yml"
}

start_registry() {
  local name=$1 port=$2 dir=$STATE/$1
  if [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then return; fi
  setsid "$REGISTRY_BIN" serve "$dir/config.yml" >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then return; fi
    sleep 0.1
  done
  cat "$dir/log" >&2
  die "registry $name did not start on 127.0.0.1:$port"
}

make_tls() {
  local t=$STATE/tls
  [[ -f $t/server.crt && -f $t/htpasswd ]] && return
  mkdir -p "$t"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=liftoff test CA" \
    -keyout "$t/ca.key" -out "$t/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$t/ext"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial -days 30 \
    -extfile "$t/ext" -out "$t/server.crt" 2>/dev/null
  htpasswd -Bbc "$t/htpasswd" "$USER_NAME" "$PASSWORD" 2>/dev/null
}

push_all() {
  local host=$1; shift
  for img in busybox web layers multiarch docker dockerlist; do
    python3 "$HACK/push-image.py" "$@" "$STATE/images/$img" "$host/liftoff-test/$img:latest" >/dev/null
  done
}

start() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  [[ -x $REGISTRY_BIN ]] || die "$REGISTRY_BIN missing (apt-get install docker-registry)"
  mkdir -p "$STATE"
  make_tls
  [[ -d $STATE/images/busybox ]] || python3 "$HACK/build-test-images.py" "$STATE/images"
  write_config registry 5000 0
  write_config mirror 5001 0
  write_config tls 5443 1
  start_registry registry 5000
  start_registry mirror 5001
  start_registry tls 5443
  if ! { [[ -f $STATE/token/pid ]] && kill -0 "$(cat "$STATE/token/pid")" 2>/dev/null; }; then
    mkdir -p "$STATE/token"
    setsid python3 "$HACK/token-registry.py" 5002 http://127.0.0.1:5000 "$USER_NAME:$PASSWORD" >"$STATE/token/log" 2>&1 </dev/null &
    echo $! >"$STATE/token/pid"
    for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/5002) 2>/dev/null && break; sleep 0.1; done
  fi
  if [[ ! -f $STATE/pushed ]]; then
    push_all 127.0.0.1:5000
    push_all 127.0.0.1:5001
    push_all 127.0.0.1:5443 --cacert "$STATE/tls/ca.crt" --user "$USER_NAME:$PASSWORD"
    touch "$STATE/pushed"
  fi
  mkdir -p "$(dirname "$ENV_FILE")"
  cat >"$ENV_FILE.tmp" <<EOT
export LIFTOFF_TEST_REGISTRY=127.0.0.1:5000
export LIFTOFF_TEST_MIRROR=127.0.0.1:5001
export LIFTOFF_TEST_TLS_REGISTRY=127.0.0.1:5443
export LIFTOFF_TEST_TOKEN_REGISTRY=127.0.0.1:5002
export LIFTOFF_TEST_TLS_CA=$STATE/tls/ca.crt
export LIFTOFF_TEST_TLS_USER=$USER_NAME
export LIFTOFF_TEST_TLS_PASSWORD=$PASSWORD
export LIFTOFF_TEST_IMAGES=$STATE/images
EOT
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  echo "test-env: registries up; source $ENV_FILE"
}

stop() {
  for name in registry mirror tls token; do
    local pidf=$STATE/$name/pid
    if [[ -f $pidf ]]; then
      kill "$(cat "$pidf")" 2>/dev/null || true
      rm -f "$pidf"
    fi
  done
  rm -rf "$STATE"
  echo "test-env: stopped"
}

status() {
  for name in registry mirror tls token; do
    local pidf=$STATE/$name/pid
    if [[ -f $pidf ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then echo "$name: running (pid $(cat "$pidf"))"
    else echo "$name: stopped"; fi
  done
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 start|stop|status" ;;
esac
