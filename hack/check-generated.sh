#!/usr/bin/env bash
# Fails when the committed Swift code under Sources/LiftoffCRI/Generated is not what
# hack/generate-proto.sh makes from proto/runtime/v1/api.proto today: it regenerates into a temporary
# directory with the protoc plugins of the package's own dependencies (built in .build-protoc, ~10
# minutes the first time) and diffs. A hand edit of the generated code, a proto edited without
# regenerating, or a plugin version that generates differently all fail here.
# LIFTOFF_CHECK_GENERATED=hash checks only the proto's recorded hash (seconds, no plugin build).
set -euo pipefail
cd "$(dirname "$0")/.."
gen=Sources/LiftoffCRI/Generated
want=$(cat "$gen/api.proto.sha256")
have=$(sha256sum proto/runtime/v1/api.proto | cut -d' ' -f1)
if [[ "$want" != "$have" ]]; then
  echo "proto/runtime/v1/api.proto changed since the Swift code was generated: run hack/generate-proto.sh" >&2
  exit 1
fi
if [[ ${LIFTOFF_CHECK_GENERATED:-} == hash ]]; then
  echo "generated code: proto hash matches (LIFTOFF_CHECK_GENERATED=hash: not regenerated)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hack/generate-proto.sh "$tmp" > "$tmp.log" 2>&1 || { cat "$tmp.log" >&2; rm -f "$tmp.log"; exit 1; }
rm -f "$tmp.log"
if ! diff -ru "$gen" "$tmp" > "$tmp.diff"; then
  echo "Sources/LiftoffCRI/Generated differs from what hack/generate-proto.sh makes now (diff below): regenerate, or find who edited it" >&2
  head -50 "$tmp.diff" >&2
  rm -f "$tmp.diff"
  exit 1
fi
rm -f "$tmp.diff"
echo "generated code matches a fresh hack/generate-proto.sh run of proto/runtime/v1/api.proto"
