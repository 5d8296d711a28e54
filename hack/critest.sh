#!/usr/bin/env bash
# Runs critest (kubernetes-sigs/cri-tools v1.36.0, the CRI validation suite) against a private
# liftoff-cri, offline, and prints its summary (root):
#
#   hack/critest.sh [--websocket] [--keep] [--pushed LIST] [-- MORE_CRITEST_ARGS…]
#   hack/critest.sh --push-only LIST
#
#   --websocket  the streaming specs over WebSocket (-websocket-exec -websocket-attach
#                -websocket-portforward) instead of SPDY
#   --keep       keep the work directory (server log, critest output, JSON report) even on success
#   --push-only LIST  build and push the stand-in images, write their list to LIST, run nothing else
#   --pushed LIST     the stand-ins are in the registry already (pushed with --push-only): build and
#                push nothing. hack/vm/test.sh pushes on the host before the VM boots, whose registries
#                serve a copy of the host's storage (under TCG the build and push take minutes)
#
# critest: $CRITEST, else ../shared/tools/cri-tools/critest beside the repository. Without it the script
# says so loudly and fails where $CI is set (.ci/run sets it), else exits 0 having run nothing.
# liftoff binaries: $LIFTOFF_BIN_DIR, else `swift build --show-bin-path`.
#
# The images critest hard-codes (registry.k8s.io/e2e-test-images/…, registry.k8s.io/pause,
# k8s.gcr.io/pause, gcr.io/k8s-staging-cri-tools/…) are stand-ins built here without Docker
# (hack/build-critest-tools.sh, hack/build-test-images.py --critest), pushed to the local test registry
# under critest/<upstream host>/… and served under their upstream names through hosts.toml mirrors with
# override_path, in a registry config dir of the server's own. The server also has its own socket,
# state directory and CNI network (bridge lcritest0), so nothing on the node is touched; the test
# registries come from hack/test-env.sh (started here, and stopped again, when not already running).
#
# Exit status: 0 when no spec failed (but the known failures below) and none skipped itself at run
# time (a runtime that lacks a feature makes critest skip the spec), 1 otherwise. Specs left out, each
# with its reason:
#   AppArmor: this machine has no AppArmor (critest would skip every one at run time saying so).
#   "public image with digest should be pulled and removed": the image is pinned by a digest of bytes
#     published on gcr.io; no stand-in can have it. Needs the internet; run with CRITEST_ONLINE=1 where
#     gcr.io is reachable (the other names are still mirrored) to include it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HACK=$REPO/hack
export PATH=/opt/swift/usr/bin:$PATH

websocket=0
keep=0
push_only=
pushed=
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --websocket) websocket=1 ;;
    --keep) keep=1 ;;
    --push-only) push_only=${2:?--push-only needs a file}; shift ;;
    --pushed) pushed=${2:?--pushed needs a file}; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: hack/critest.sh [--websocket] [--keep] [--pushed LIST] [-- CRITEST_ARGS…] | --push-only LIST" >&2; exit 2 ;;
  esac
  shift
done
transport=$([[ $websocket == 1 ]] && echo WebSocket || echo SPDY)

die() { echo "critest.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root"

CRITEST=${CRITEST:-$(cd "$REPO/.." && pwd)/shared/tools/cri-tools/critest}
if [[ ! -x $CRITEST ]]; then
  {
    echo "################################################################################"
    echo "#  critest NOT FOUND at $CRITEST"
    echo "#  (set CRITEST=/path/to/critest; cri-tools v1.36.0). The CRI validation suite did NOT run."
    echo "################################################################################"
  } >&2
  [[ -n ${CI:-} ]] && exit 1
  exit 0
fi

# Specs that cannot pass offline, by reason (ginkgo -skip regular expressions).
skips=('AppArmor')
if [[ -z ${CRITEST_ONLINE:-} ]]; then
  skips+=('public image with digest should be pulled and removed')
fi
# Known failures, run and reported as such (spec names); one that passes fails the run, so that it
# leaves this list. None today.
known_failures=()

BIN=${LIFTOFF_BIN_DIR:-$(cd "$REPO" && swift build --show-bin-path)}
for b in liftoff liftoff-cri liftoff-stage1 liftoff-image; do
  [[ -x $BIN/$b ]] || die "$BIN/$b missing (build first, or set LIFTOFF_BIN_DIR)"
done

started_env=0
if [[ ! -f /run/liftoff-test/env ]]; then
  "$HACK/test-env.sh" start >/dev/null
  started_env=1
fi
# shellcheck disable=SC1091
source /run/liftoff-test/env

work=$(mktemp -d /tmp/liftoff-critest.XXXXXX)
sock=$work/cri.sock
state=$work/state
bridge=lcritest0
server_pid=
cleanup() {
  local rc=$?
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  # Whatever critest left running (stage1 is nobody's child here), then the pods' remains.
  if [[ -d $state/pods/run ]] && [[ -n $(ls -A "$state/pods/run") ]]; then
    "$BIN/liftoff" --dir "$state" --cni-conf-dir "$work/net.d" stop --force $(ls "$state/pods/run") >/dev/null 2>&1 || true
  fi
  [[ -d $state ]] && "$BIN/liftoff" --dir "$state" --cni-conf-dir "$work/net.d" gc --grace-period 0 >/dev/null 2>&1 || true
  ip link del "$bridge" 2>/dev/null || true
  if [[ $keep == 1 || $rc != 0 ]]; then
    echo "critest.sh: work directory kept: $work (cri.log, critest.log, report.json)" >&2
  else
    rm -rf "$work"
  fi
  [[ $started_env == 1 ]] && "$HACK/test-env.sh" stop >/dev/null
  exit "$rc"
}
trap cleanup EXIT

# Stand-in images, pushed under critest/<upstream host>/<path>.
if [[ -n $pushed ]]; then
  [[ -f $pushed ]] || die "--pushed $pushed: no such list (hack/critest.sh --push-only $pushed)"
  cp "$pushed" "$work/images.txt"
else
  tools=$("$HACK/build-critest-tools.sh")
  python3 "$HACK/build-test-images.py" --critest "$tools" "$work/images"
  cp "$work/images/images.txt" "$work/images.txt"
fi
hosts=()
while read -r layout ref; do
  host=${ref%%/*}
  path=${ref#*/}
  [[ $path == *:* ]] || path=$path:latest
  if [[ -z $pushed ]]; then
    python3 "$HACK/push-image.py" "$work/images/$layout" "$LIFTOFF_TEST_REGISTRY/critest/$host/$path" >/dev/null
  fi
  [[ " ${hosts[*]} " == *" $host "* ]] || hosts+=("$host")
done <"$work/images.txt"
if [[ -n $push_only ]]; then
  cp "$work/images.txt" "$push_only"
  exit 0
fi
for host in "${hosts[@]}"; do
  mkdir -p "$work/certs.d/$host"
  cat >"$work/certs.d/$host/hosts.toml" <<EOT
server = "https://$host"
[host."http://$LIFTOFF_TEST_REGISTRY/v2/critest/$host"]
  capabilities = ["pull", "resolve"]
  override_path = true
EOT
done

# A CNI network of the server's own (portmap with snat: critest reaches host ports on 127.0.0.1).
ip link del "$bridge" 2>/dev/null || true
mkdir -p "$work/net.d"
cat >"$work/net.d/10-critest.conflist" <<EOT
{"cniVersion":"1.0.0","name":"liftoff-critest","plugins":[
  {"type":"bridge","bridge":"$bridge","isGateway":true,"ipMasq":false,
   "ipam":{"type":"host-local","ranges":[[{"subnet":"10.177.0.0/24"}]],"dataDir":"$work/ipam"}},
  {"type":"portmap","capabilities":{"portMappings":true},"snat":true},
  {"type":"loopback"}]}
EOT

"$BIN/liftoff-cri" --socket "$sock" --dir "$state" --cni-conf-dir "$work/net.d" \
  --registry-config-dir "$work/certs.d" --log-level "${CRITEST_LOG_LEVEL:-info}" >"$work/cri.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
  [[ -S $sock ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/cri.log" >&2; die "liftoff-cri exited"; }
  sleep 0.05
done
[[ -S $sock ]] || die "liftoff-cri did not listen on $sock"

args=(-runtime-endpoint "unix://$sock" -image-endpoint "unix://$sock" -ginkgo.no-color
  -ginkgo.json-report "$work/report.json")
for s in "${skips[@]}"; do args+=(-ginkgo.skip "$s"); done
[[ $websocket == 1 ]] && args+=(-websocket-exec -websocket-attach -websocket-portforward)

echo "critest.sh: running critest ($transport streaming) against $BIN/liftoff-cri"
start=$(date +%s)
set +e
(cd "$work" && "$CRITEST" "${args[@]}" "${extra[@]}") >"$work/critest.log" 2>&1
critest_rc=$?
set -e
elapsed=$(($(date +%s) - start))

python3 - "$work/report.json" "$transport" "$elapsed" "$critest_rc" "${known_failures[@]}" <<'EOF'
import json, sys
path, transport, elapsed, rc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
known = set(sys.argv[5:])
try:
    suites = json.load(open(path))
except (OSError, ValueError) as e:
    print("critest (%s): no report (%s); critest exited %d" % (transport, e, rc))
    sys.exit(1)
ran, failed, skipped, passed, known_failed, known_passed = [], [], [], 0, [], []
for s in suites:
    for r in s["SpecReports"]:
        name = " ".join((r.get("ContainerHierarchyTexts") or []) + [r.get("LeafNodeText") or ""]).strip()
        state = r["State"]
        if r["LeafNodeType"] != "It":
            if state not in ("passed", "skipped"):
                failed.append((r["LeafNodeType"] + " " + name, r.get("Failure", {}).get("Message", "")))
            continue
        message = (r.get("Failure") or {}).get("Message", "")
        if state == "skipped" and not message:
            continue  # left out by -ginkgo.skip
        ran.append(name)
        is_known = r.get("LeafNodeText") in known
        if state == "passed":
            passed += 1
            if is_known:
                known_passed.append(name)
        elif state == "skipped":
            skipped.append((name, message))
        elif is_known:
            known_failed.append((name, message))
        else:
            failed.append((name, message))
print("critest (%s streaming): %d passed, %d failed (+%d known), %d skipped at run time, of %d run, in %d s"
      % (transport, passed, len(failed), len(known_failed), len(skipped), len(ran), elapsed))
for label, group in (("FAILED ", failed), ("KNOWN FAILURE ", known_failed)):
    for name, message in group:
        print("  " + label + name)
        for line in message.strip().splitlines()[:6]:
            print("          " + line)
for name, message in skipped:
    print("  SKIPPED %s: %s" % (name, (message.strip().splitlines() or [""])[0]))
for name in known_passed:
    print("  PASSED, but listed as a known failure: take it off known_failures in hack/critest.sh: " + name)
if rc != 0 and not failed and not known_failed:
    print("  critest exited %d" % rc)
sys.exit(1 if failed or skipped or known_passed or (rc != 0 and not known_failed) else 0)
EOF
