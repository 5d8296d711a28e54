#!/usr/bin/env bash
# Builds liftoff, liftoff-image, liftoff-cri and liftoff-stage1. Usage: hack/build.sh [debug|release]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
config=${1:-release}
swift build -c "$config"
echo "built into $(swift build -c "$config" --show-bin-path)"
