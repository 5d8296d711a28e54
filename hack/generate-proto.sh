#!/usr/bin/env bash
# Regenerates the Swift code for the CRI proto (proto/runtime/v1/api.proto) into
# Sources/LiftoffCRI/Generated (or into OUTDIR: hack/check-generated.sh diffs the two) and records the
# proto's hash there, which Tests/LiftoffCRITests/GeneratedCodeTests.swift checks. The protoc plugins
# are built from the package's own dependencies (swift-protobuf, grpc-swift-protobuf) in .build-protoc
# (a first build takes ~10 min), or taken from PROTOC_GEN_SWIFT / PROTOC_GEN_GRPC_SWIFT when set.
# Needs: protobuf-compiler (protoc).
# Usage: hack/generate-proto.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-Sources/LiftoffCRI/Generated}
if [[ -z "${PROTOC_GEN_SWIFT:-}" || -z "${PROTOC_GEN_GRPC_SWIFT:-}" ]]; then
  swift build -c release --scratch-path .build-protoc --product protoc-gen-swift >&2
  swift build -c release --scratch-path .build-protoc --product protoc-gen-grpc-swift-2 >&2
  bin=$(swift build -c release --scratch-path .build-protoc --show-bin-path)
  PROTOC_GEN_SWIFT=$bin/protoc-gen-swift
  PROTOC_GEN_GRPC_SWIFT=$bin/protoc-gen-grpc-swift-2
fi

mkdir -p "$out"
rm -f "$out"/*.swift
protoc -I proto runtime/v1/api.proto \
  --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" \
  --plugin=protoc-gen-grpc-swift="$PROTOC_GEN_GRPC_SWIFT" \
  --swift_opt=Visibility=Public,FileNaming=DropPath \
  --swift_out="$out" \
  --grpc-swift_opt=Visibility=Public,FileNaming=DropPath,Client=true,Server=true \
  --grpc-swift_out="$out"
sha256sum proto/runtime/v1/api.proto | cut -d' ' -f1 > "$out/api.proto.sha256"
echo "generated: $(ls "$out")"
