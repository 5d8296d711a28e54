#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine (as root), install the dependencies, build
# Liftoff in release mode, install the binaries into /usr/local/bin, and start liftoff-cri on
# /run/liftoff/cri.sock in the background (log: /var/log/liftoff-cri.log). Idempotent: a running
# liftoff-cri is stopped and replaced by the new build.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "hack/setup.sh: run as root" >&2; exit 1; }

hack/install-deps.sh
hack/build.sh release
bin=$(swift build -c release --show-bin-path)
install -m 0755 "$bin/liftoff" "$bin/liftoff-image" "$bin/liftoff-cri" "$bin/liftoff-stage1" "$bin/liftoff-enter" /usr/local/bin/
mkdir -p /etc/liftoff
install -m 0644 deploy/crictl.yaml /etc/crictl.yaml

if pid=$(pgrep -x liftoff-cri); then
  kill -TERM $pid
  for _ in $(seq 50); do pgrep -x liftoff-cri >/dev/null || break; sleep 0.1; done
fi
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  install -m 0644 deploy/liftoff-cri.service /etc/systemd/system/liftoff-cri.service
  # Installed, not enabled: `systemctl enable --now liftoff-cri.socket` turns socket activation on.
  install -m 0644 deploy/liftoff-cri.socket /etc/systemd/system/liftoff-cri.socket
  systemctl daemon-reload
  systemctl enable --now liftoff-cri.service
else
  setsid nohup /usr/local/bin/liftoff-cri >>/var/log/liftoff-cri.log 2>&1 </dev/null &
fi
for _ in $(seq 100); do [[ -S /run/liftoff/cri.sock ]] && break; sleep 0.1; done
[[ -S /run/liftoff/cri.sock ]] || { echo "liftoff-cri did not start; see /var/log/liftoff-cri.log" >&2; exit 1; }
echo "liftoff-cri is running on unix:///run/liftoff/cri.sock"
