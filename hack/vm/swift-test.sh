#!/usr/bin/env bash
# hack/vm/swift-test.sh [--scratch-path DIR] [FILTER…]
# Runs the test bundle that `swift build --build-tests` made, directly, serially, with each FILTER as
# swift test's --filter (a regular expression over Suite/test names; several: any of them). Meant for
# the VM (hack/vm/run.sh -- hack/vm/swift-test.sh …): `swift test --skip-build` would compile every
# package manifest again first, minutes under TCG. LIFTOFF_BIN_DIR defaults to the bundle's directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch=.build
if [[ ${1:-} == --scratch-path ]]; then scratch=${2:?}; shift 2; fi
bin=$scratch/debug
bundle=$bin/liftoffPackageTests.xctest
[[ -x $bundle ]] || { echo "swift-test: $bundle missing (swift build --build-tests --scratch-path $scratch)" >&2; exit 2; }
export LIFTOFF_BIN_DIR=${LIFTOFF_BIN_DIR:-$(cd "$bin" && pwd)}
export NO_COLOR=1
args=(--testing-library swift-testing --no-parallel)
for f in "$@"; do args+=(--filter "$f"); done
exec "$bundle" "${args[@]}"
