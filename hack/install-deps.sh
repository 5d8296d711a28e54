#!/usr/bin/env bash
# Installs the Debian 12 packages that building, running and testing Liftoff need. Idempotent; root.
set -euo pipefail

packages=(
  # build
  pkg-config libarchive-dev libseccomp-dev libzstd-dev libisal-dev zlib1g-dev protobuf-compiler
  # run: networking (CNI plugins in /usr/lib/cni), iptables for portmap, iproute2 for netns tests
  containernetworking-plugins iptables iproute2 util-linux attr
  # test environment: a real local registry, busybox-based test images, htpasswd, TLS
  docker-registry busybox-static apache2-utils openssl python3 curl
  # critest's stand-in images (hack/build-critest-tools.sh: BusyBox from source, two small C programs)
  gcc libc6-dev make bzip2
  # image trust tests: hack/sigstore-sign.py (cosign key format: scrypt + NaCl secretbox; ECDSA, Ed25519)
  python3-cryptography python3-nacl
  # hack/stress.py and hack/cri_client.py: a CRI client (message classes generated with protoc)
  python3-grpcio python3-protobuf
  # benchmarks
  hyperfine
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's docker-registry package starts a registry on :5000 for every interface; the test
# environment runs its own on 127.0.0.1 only, so the packaged service is stopped where it runs.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi
pkill -x docker-registry -u docker-registry 2>/dev/null || true
echo "dependencies installed"
