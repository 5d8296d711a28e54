#!/usr/bin/env bash
# Fails when proto/runtime/v1/api.proto changed but the generated Swift code was not regenerated
# (hack/generate-proto.sh records the proto's sha256 beside the generated files).
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(cat Sources/LiftoffCRI/Generated/api.proto.sha256)
have=$(sha256sum proto/runtime/v1/api.proto | cut -d' ' -f1)
if [[ "$want" != "$have" ]]; then
  echo "proto/runtime/v1/api.proto changed since the Swift code was generated: run hack/generate-proto.sh" >&2
  exit 1
fi
echo "generated code matches proto/runtime/v1/api.proto"
