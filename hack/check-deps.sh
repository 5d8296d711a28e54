#!/usr/bin/env bash
# check-deps: the targets and their edges are the README's graph, and Package.swift and the code say
# the same (issue 17). Reads README.md's block between `<!-- target-graph -->` and
# `<!-- /target-graph -->` (lines `Target → Dep Dep …`), Package.swift's targets (`swift package
# dump-package`) and every `import` under Sources/, and fails, naming the target and the edge, when:
#   - a target imports one of ours (a Liftoff target or C module) that the README's graph does not give it;
#   - a README edge is not declared in Package.swift, or Package.swift declares one the graph lacks;
#   - Package.swift declares a dependency (ours or a package's product) that the target never imports;
#   - a target imports a package's module without declaring it (SwiftPM lets a transitive one through);
#   - an `@_exported import` hides an edge.
# Toolchain modules (Foundation, Glibc, Synchronization, …) are not edges. Runs in hack/test.sh.
#   hack/check-deps.sh        (needs swift on PATH)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DUMP=$(mktemp)
trap 'rm -f "$DUMP"' EXIT
swift package dump-package >"$DUMP"
python3 - "$DUMP" <<'PY'
import json, os, re, sys

TOOLCHAIN = {"Foundation", "FoundationEssentials", "FoundationNetworking", "Glibc", "Musl", "Darwin", "Dispatch",
             "Synchronization", "Testing", "XCTest", "_Concurrency", "Swift", "os"}
dump = json.load(open(sys.argv[1]))
ours = {t["name"] for t in dump["targets"]}
declared = {}
for t in dump["targets"]:
    if t["type"] == "test":
        continue
    deps = set()
    for d in t["dependencies"]:
        for kind in ("byName", "target", "product"):
            if kind in d:
                deps.add(d[kind][0])
    declared[t["name"]] = deps

readme = open("README.md", encoding="utf-8").read()
m = re.search(r"<!-- target-graph -->(.*?)<!-- /target-graph -->", readme, re.S)
if not m:
    sys.exit("check-deps: README.md has no <!-- target-graph --> block")
graph = {}
for line in m.group(1).splitlines():
    line = line.strip().strip("`")
    if "→" not in line:
        continue
    name, _, rest = line.partition("→")
    graph[name.strip()] = set(rest.split()) - {"(nothing)"}

IMPORT = re.compile(r"^\s*(@_exported\s+)?(?:@\w+\s+)*import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.M)
problems = []
for name, deps in sorted(declared.items()):
    src = os.path.join("Sources", name)
    imports = set()
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".swift"):
                continue
            text = open(os.path.join(dirpath, f), encoding="utf-8").read()
            for exported, mod in IMPORT.findall(text):
                imports.add(mod)
                if exported:
                    problems.append(f"{name}: `@_exported import {mod}` in {os.path.join(dirpath, f)} hides an edge")
    imports -= TOOLCHAIN | {name}
    c_target = not any(f.endswith(".swift") for _, _, fs in os.walk(src) for f in fs)
    if name not in graph:
        problems.append(f"{name}: not in README's target graph")
        continue
    allowed = graph[name]
    for mod in sorted(imports & ours - allowed):
        problems.append(f"{name} imports {mod}: README's graph does not allow {name} → {mod}")
    for mod in sorted(allowed - (deps & ours)):
        problems.append(f"README's graph has {name} → {mod}, Package.swift does not declare it")
    for mod in sorted((deps & ours) - allowed):
        problems.append(f"Package.swift declares {name} → {mod}, README's graph does not")
    if not c_target:
        for mod in sorted(deps - imports):
            problems.append(f"Package.swift declares {name} → {mod}, and {name} never imports it")
        for mod in sorted(imports - ours - deps):
            problems.append(f"{name} imports {mod} without declaring it in Package.swift")
for name in sorted(set(graph) - set(declared)):
    problems.append(f"README's graph names {name}, which is no target")
for p in problems:
    print("check-deps:", p)
if problems:
    sys.exit(1)
print(f"check-deps: {len(declared)} targets, {sum(len(v) for v in graph.values())} edges: the code, Package.swift and README agree")
PY
