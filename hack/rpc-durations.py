#!/usr/bin/env python3
"""Server-side CRI call durations from a runtime's own log (used by hack/bench-cri.sh).

  rpc-durations.py liftoff LOG      liftoff-cri --log-level debug: "ms=12.3 [LiftoffCRI] StartContainer ok"
  rpc-durations.py containerd LOG   containerd --log-level debug: the time between "StartContainer for \"ID\""
                                    and "StartContainer for \"ID\" returns …" (same for the other calls)

Prints one line: the median in ms of each call, and Create+Start / Stop+Remove / StopP+RemoveP (sums of
the medians).
"""
import re
import statistics
import sys
from datetime import datetime

CALLS = [
    "RunPodSandbox", "CreateContainer", "StartContainer", "ExecSync", "StopContainer", "RemoveContainer",
    "StopPodSandbox", "RemovePodSandbox",
]


def liftoff(path):
    out = {c: [] for c in CALLS}
    for line in open(path, errors="replace"):
        m = re.search(r"ms=([\d.]+) \[LiftoffCRI\] (\w+) ok", line)
        if m and m.group(2) in out:
            out[m.group(2)].append(float(m.group(1)))
    return out


def containerd(path):
    out = {c: [] for c in CALLS}
    started = {}
    for line in open(path, errors="replace"):
        t = re.search(r'time="([^"]+)"', line)
        m = re.search(r'msg="((\w+) .*)"\s*$', line)
        if not t or not m or m.group(2) not in out:
            continue
        call, msg = m.group(2), m.group(1).replace('\\"', '"')
        ts = t.group(1)
        # 2026-11-29T21:10:00.123456789Z → microsecond precision for datetime
        ts = re.sub(r"(\.\d{6})\d*", r"\1", ts).replace("Z", "+00:00")
        when = datetime.fromisoformat(ts).timestamp()
        # A call is matched with its "returns" line by its first quoted ID (container calls) or,
        # for RunPodSandbox, by the whole request text before " returns".
        ident = re.search(r'"([0-9a-f]{8,})"', msg)
        by_text = call + ":" + msg.split(" returns")[0]
        by_id = call + ":" + ident.group(1) if ident else None
        if " returns" in msg:
            key = by_text if by_text in started else by_id
            if key in started:
                out[call].append((when - started.pop(key)) * 1000)
        else:
            started[by_id or by_text] = when
    return out


def main():
    kind, path = sys.argv[1], sys.argv[2]
    d = liftoff(path) if kind == "liftoff" else containerd(path)
    med = {c: statistics.median(v) for c, v in d.items() if v}
    parts = [f"{c} {med[c]:.1f}" for c in CALLS if c in med]
    if "CreateContainer" in med and "StartContainer" in med:
        parts.append(f"Create+Start {med['CreateContainer'] + med['StartContainer']:.1f}")
    if "StopContainer" in med and "RemoveContainer" in med:
        parts.append(f"Stop+Remove {med['StopContainer'] + med['RemoveContainer']:.1f}")
    if "StopPodSandbox" in med and "RemovePodSandbox" in med:
        parts.append(f"StopP+RemoveP {med['StopPodSandbox'] + med['RemovePodSandbox']:.1f}")
    print(f"{kind:<11} server-side medians, ms: " + " · ".join(parts))


main()
