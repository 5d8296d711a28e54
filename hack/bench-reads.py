#!/usr/bin/env python3
"""CRI read-path benchmark (not a test): one persistent gRPC client, as kubelet holds one.

usage: bench-reads.py SOCKET IMAGE [--pods N] [--runs R] [--handler H] [--keep]

Against a running CRI server on SOCKET: pulls IMAGE, starts N sandboxes each with one running
container (`sleep`), then times R rounds of what kubelet's PLEG relist and status loop send —
ListPodSandbox, ListContainers, ContainerStatus of every container, PodSandboxStatus of every sandbox —
and R lifecycles (RunPodSandbox, CreateContainer, StartContainer, ExecSync `true`,
ContainerStatus, StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox). Prints medians and
p99 in milliseconds as measured by the client (gRPC round trip included), then removes what it made.

Needs Python's grpcio and grpcio-tools (PyPI); the CRI stubs are generated from proto/runtime/v1/api.proto
into a temporary directory on every run (nothing generated is kept). Sends traffic only to the Unix socket.
"""
import argparse, os, statistics, subprocess, sys, tempfile, time, uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "proto")


def stubs():
    out = tempfile.mkdtemp(prefix="liftoff-bench-reads-")
    from grpc_tools import protoc
    import grpc_tools
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{PROTO}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}",
                      os.path.join(PROTO, "runtime", "v1", "api.proto")])
    if rc != 0:
        sys.exit("bench-reads: protoc failed")
    sys.path.insert(0, out)
    from runtime.v1 import api_pb2, api_pb2_grpc  # noqa: E402
    return api_pb2, api_pb2_grpc


def ms(samples):
    s = sorted(samples)
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
    return f"median {statistics.median(s) * 1000:7.3f}  p99 {p99 * 1000:7.3f}"


def main():
    a = argparse.ArgumentParser()
    a.add_argument("socket")
    a.add_argument("image")
    a.add_argument("--pods", type=int, default=20)
    a.add_argument("--runs", type=int, default=20)
    a.add_argument("--handler", default="")
    a.add_argument("--keep", action="store_true")
    args = a.parse_args()
    pb, rpc = stubs()
    import grpc
    ch = grpc.insecure_channel("unix://" + args.socket)
    rt = rpc.RuntimeServiceStub(ch)
    im = rpc.ImageServiceStub(ch)
    tag = uuid.uuid4().hex[:6]

    def timed(f, *x):
        t = time.perf_counter()
        r = f(*x)
        return r, time.perf_counter() - t

    im.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image=args.image)))

    def sandbox_config(i):
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=f"bench-{tag}-{i}", namespace="bench", uid=f"{tag}-{i}", attempt=0),
            hostname=f"bench{i}", log_directory=f"/tmp/liftoff-bench-reads-{tag}/{i}",
            linux=pb.LinuxPodSandboxConfig())

    def container_config(name, cmd):
        return pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name), image=pb.ImageSpec(image=args.image),
                                  command=cmd, log_path=f"{name}.log")

    made = []
    try:
        for i in range(args.pods):
            cfg = sandbox_config(i)
            sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=cfg, runtime_handler=args.handler)).pod_sandbox_id
            cid = rt.CreateContainer(pb.CreateContainerRequest(
                pod_sandbox_id=sid, config=container_config("sleep", ["sleep", "3600"]), sandbox_config=cfg)).container_id
            rt.StartContainer(pb.StartContainerRequest(container_id=cid))
            made.append((sid, cid))
        print(f"{args.pods} pods running; {args.runs} rounds")
        lps, lc, cs, ps, relist = [], [], [], [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            _, d = timed(rt.ListPodSandbox, pb.ListPodSandboxRequest()); lps.append(d)
            _, d = timed(rt.ListContainers, pb.ListContainersRequest()); lc.append(d)
            for sid, cid in made:
                _, d = timed(rt.ContainerStatus, pb.ContainerStatusRequest(container_id=cid)); cs.append(d)
            for sid, cid in made:
                _, d = timed(rt.PodSandboxStatus, pb.PodSandboxStatusRequest(pod_sandbox_id=sid)); ps.append(d)
            relist.append(time.perf_counter() - t0)
        print(f"ListPodSandbox           {ms(lps)}")
        print(f"ListContainers           {ms(lc)}")
        print(f"ContainerStatus (one)    {ms(cs)}")
        print(f"PodSandboxStatus (one)   {ms(ps)}")
        print(f"relist (lists + {args.pods}+{args.pods} statuses) {ms(relist)}")
        # A lifecycle, timed per call, R times (at least 10: the medians of 5 moved by 2 ms between runs).
        life = {k: [] for k in ["RunPodSandbox", "CreateContainer", "StartContainer", "ExecSync", "ContainerStatus",
                                "StopContainer", "RemoveContainer", "StopPodSandbox", "RemovePodSandbox", "lifecycle"]}
        for i in range(max(10, args.runs)):
            t0 = time.perf_counter()
            cfg = sandbox_config(1000 + i)
            r, d = timed(rt.RunPodSandbox, pb.RunPodSandboxRequest(config=cfg, runtime_handler=args.handler)); life["RunPodSandbox"].append(d)
            sid = r.pod_sandbox_id
            r, d = timed(rt.CreateContainer, pb.CreateContainerRequest(
                pod_sandbox_id=sid, config=container_config("life", ["sleep", "3600"]), sandbox_config=cfg)); life["CreateContainer"].append(d)
            cid = r.container_id
            _, d = timed(rt.StartContainer, pb.StartContainerRequest(container_id=cid)); life["StartContainer"].append(d)
            _, d = timed(rt.ExecSync, pb.ExecSyncRequest(container_id=cid, cmd=["true"], timeout=10)); life["ExecSync"].append(d)
            _, d = timed(rt.ContainerStatus, pb.ContainerStatusRequest(container_id=cid)); life["ContainerStatus"].append(d)
            _, d = timed(rt.StopContainer, pb.StopContainerRequest(container_id=cid, timeout=0)); life["StopContainer"].append(d)
            _, d = timed(rt.RemoveContainer, pb.RemoveContainerRequest(container_id=cid)); life["RemoveContainer"].append(d)
            _, d = timed(rt.StopPodSandbox, pb.StopPodSandboxRequest(pod_sandbox_id=sid)); life["StopPodSandbox"].append(d)
            _, d = timed(rt.RemovePodSandbox, pb.RemovePodSandboxRequest(pod_sandbox_id=sid)); life["RemovePodSandbox"].append(d)
            life["lifecycle"].append(time.perf_counter() - t0)
        for k, v in life.items():
            print(f"{k:24} {ms(v)}")
        # Exit -> event: a container that exits by itself, the time from its finished_at (the runtime's
        # record of the exit) to the CONTAINER_STOPPED event reaching this client's GetContainerEvents.
        import threading
        seen, cond = {}, threading.Condition()
        stream = rt.GetContainerEvents(pb.GetEventsRequest())

        def listen():
            try:
                for e in stream:
                    if e.container_event_type == pb.CONTAINER_STOPPED_EVENT:
                        with cond:
                            seen.setdefault(e.container_id, time.time_ns())
                            cond.notify_all()
            except grpc.RpcError:
                pass
        threading.Thread(target=listen, daemon=True).start()
        time.sleep(0.3)
        sid, _ = made[0] if made else (None, None)
        lat = []
        for i in range(max(3, args.runs // 4)) if sid else []:
            cid = rt.CreateContainer(pb.CreateContainerRequest(
                pod_sandbox_id=sid, config=container_config(f"quick{i}", ["sleep", "0.2"]),
                sandbox_config=sandbox_config(0))).container_id
            rt.StartContainer(pb.StartContainerRequest(container_id=cid))
            with cond:
                cond.wait_for(lambda: cid in seen, timeout=15)
            st = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
            if cid in seen and st.finished_at:
                lat.append((seen[cid] - st.finished_at) / 1e9)
            rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))
        stream.cancel()
        if lat:
            print(f"{'exit -> event':24} {ms(lat)}")
    finally:
        if not args.keep:
            for sid, _ in made:
                try:
                    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
                    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
                except grpc.RpcError as e:
                    print(f"cleanup {sid}: {e.code()}", file=sys.stderr)


if __name__ == "__main__":
    main()
