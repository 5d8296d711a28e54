#!/usr/bin/env python3
"""Soak, load and fault runs against a private liftoff-cri (issue 20). Not a benchmark: each run checks
what it promises and exits non-zero when something fails; it prints its figures either way.

usage: hack/stress.py soak [N]             N pod lifecycles (default 1000)
       hack/stress.py load [CLIENTS] [SECONDS]   concurrent clients mixing every unary RPC (50, 300)
       hack/stress.py faults [N]           N rounds of SIGKILL at a random moment (default 100)
       hack/stress.py density [N]          N pods each running a container, held at once (default 100)
       hack/stress.py upgrade OLD_BIN_DIR  pods made by an earlier build's liftoff-cri, managed by this one
       hack/stress.py all                  the short versions CI runs: soak 100, load 50 clients 60 s,
                                           faults 20

Root; needs hack/test-env.sh start (the test registry on 127.0.0.1), a built liftoff (LIFTOFF_BIN_DIR, default
.build/debug), protoc and python3-grpcio (hack/install-deps.sh). Each run starts its own liftoff-cri on its
own socket, data directory and CNI bridge network (bridge + host-local + portmap + loopback, no masquerade);
traffic goes only to the Unix socket, the registry on 127.0.0.1 and pod IPs on that bridge.

soak:   each lifecycle runs a sandbox (every tenth with a hostPort, so portmap adds and deletes rules), a
        container that writes a line to its log, ExecSync, ContainerStatus, StopContainer, RemoveContainer,
        StopPodSandbox, RemovePodSandbox, and checks the log line and the states. Afterwards nothing may be
        left that was not there before: mounts under the data directory, network namespaces, veths,
        cgroups, IP allocations, iptables nat rules, stage1 processes, liftoff-cri's children and open
        descriptors. liftoff-cri's RSS is printed after the first tenth and at the end (both idle).
load:   every client holds its own connection and loops over a random RPC: reads of five long-running
        pods (lists, statuses, stats, ExecSync, UpdateContainerResources, ReopenContainerLog, Exec and
        PortForward URLs, Version, Status, images) and whole lifecycles of its own pods. No RPC may fail
        (each has a 60 s deadline: a deadlock fails it); p50/p99 per RPC; the same leak check afterwards.
faults: rounds of: SIGKILL of liftoff-cri during a lifecycle (then restarted), SIGKILL of the `liftoff`
        child it runs, SIGKILL of a running pod's stage1 (the sandbox must turn NOTREADY and its container
        EXITED), SIGKILL of liftoff-cri during PullImage (which runs inside it; the image must be absent or
        whole, and a second pull must succeed), and a named fail-point (Sources/LiftoffOS/FailPoint.swift,
        one at random per round): liftoff-cri restarted with LIFTOFF_FAILPOINT in its environment, which
        it passes to every `liftoff` it runs (and they to stage1), a lifecycle — or, for an image point,
        a pull in liftoff-cri itself — then liftoff-cri restarted without it. After each round: every listed sandbox and
        container answers its status, a READY sandbox has a live stage1, and everything can be stopped and
        removed; at the end the same leak check.
density: starts N pods one after another, each with a running container, and keeps them all: the start
        time per pod (RunPodSandbox + CreateContainer + StartContainer) in five slices as pods grow, then
        with all N running, five relists as kubelet's PLEG sends them (ListPodSandbox, ListContainers, a
        ContainerStatus and a PodSandboxStatus each) with liftoff-cri's CPU time per relist, memory per
        pod (stage1's PSS, liftoff-cri's growth), liftoff-cri's descriptors, the host's inotify instances
        and pids; every container must be RUNNING and every pod must answer on its own IP address. Then
        the teardown time per pod and the same leak check.
upgrade: an earlier build's liftoff-cri (OLD_BIN_DIR: its liftoff-cri, liftoff and liftoff-stage1, e.g. from
        hack/upgrade-test.sh) pulls the image and makes a sandbox with a hostPort, a running container and
        one that exited with status 3; it is stopped (as a package upgrade restarts the service) and this
        build's liftoff-cri starts on the same socket and data directory. It must list the sandbox READY
        with its IP, the containers RUNNING and EXITED (3), exec into the running one, read its log, start
        a new container in the old sandbox, then stop and remove everything; the same leak check.
"""
import collections, glob, os, random, re, signal, shutil, statistics, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in hack/
import cri_client  # noqa: E402

BIN = os.environ.get("LIFTOFF_BIN_DIR") or os.path.join(HERE, "..", ".build", "debug")
REG = os.environ.get("LIFTOFF_TEST_REGISTRY", "127.0.0.1:5000")
IMAGE = f"{REG}/liftoff-test/busybox:latest"
PULL_IMAGE = f"{REG}/liftoff-test/layers:latest"
# The fail-points' names, as FailPoint.swift declares them (`case name = "stage0.pod-dir-created"`).
FAILPOINTS = re.findall(r'^\s*case \w+ = "([a-z0-9.-]+)"', open(os.path.join(HERE, "..", "Sources", "LiftoffOS", "FailPoint.swift")).read(), re.M)
failures = []


def fail(msg):
    print("FAIL:", msg, flush=True)
    failures.append(msg)


def say(msg):
    print(msg, flush=True)


def sh(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True).stdout


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = open(f"/proc/{p}/stat").read()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[1]) == pid:
                    out.append((int(p), stat[stat.index("(") + 1:stat.rindex(")")], fields[0]))
            except (OSError, ValueError):
                pass
    return out


def idle_spare(pid):
    """The `liftoff request --spec-file -` liftoff-cri keeps started for its next pod change (Stage0.swift,
    SpareProcess), still waiting for it: blocked in read(2) on its stdin pipe (opened again as /dev/stdin)."""
    try:
        if not open(f"/proc/{pid}/cmdline").read().split("\0")[1:4] == ["request", "--spec-file", "-"]:
            return False
        call = open(f"/proc/{pid}/syscall").read().split()
        return call[0] == "0" and os.readlink(f"/proc/{pid}/fd/{int(call[1], 16)}") == os.readlink(f"/proc/{pid}/fd/0")
    except (OSError, IndexError, ValueError):
        return False


def cmdline_pids(pattern):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if pattern in open(f"/proc/{p}/cmdline").read().replace("\0", " "):
                    out.append(int(p))
            except OSError:
                pass
    return out


class Node:
    """A private liftoff-cri with its own socket, data directory and CNI network."""

    def __init__(self, bin_dir=None):
        self.bin = bin_dir or BIN  # whose liftoff-cri (and, beside it, liftoff and liftoff-stage1) runs
        self.w = tempfile.mkdtemp(prefix="liftoff-stress-")
        self.sock = os.path.join(self.w, "cri.sock")
        self.data = os.path.join(self.w, "data")
        self.net = f"stress{random.randrange(1000)}"
        self.bridge = f"lfs{random.randrange(1000)}"
        self.ipam = os.path.join(self.w, "ipam")
        os.makedirs(os.path.join(self.w, "net.d"))
        os.makedirs(os.path.join(self.w, "trust"))
        open(os.path.join(self.w, "cri.toml"), "w").close()  # not the host's /etc/liftoff/cri.toml
        with open(os.path.join(self.w, "net.d", "10-stress.conflist"), "w") as f:
            f.write('{"cniVersion":"1.0.0","name":"%s","plugins":[{"type":"bridge","bridge":"%s","isGateway":true,'
                    '"ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.254.%d.0/24"}]],'
                    '"dataDir":"%s"}},{"type":"portmap","capabilities":{"portMappings":true}},{"type":"loopback"}]}'
                    % (self.net, self.bridge, random.randrange(256), self.ipam))
        self.pb = cri_client.load()
        self.proc = None
        self.baseline = self.host_state()
        self.start()

    def start(self, env=None):
        """`env`: variables added to liftoff-cri's environment (LIFTOFF_FAILPOINT, for the faults' rounds)."""
        log = open(os.path.join(self.w, "liftoff-cri.log"), "a")
        self.proc = subprocess.Popen(
            [os.path.join(self.bin, "liftoff-cri"), "--socket", self.sock, "--dir", self.data, "--cni-conf-dir",
             os.path.join(self.w, "net.d"), "--trust-dir", os.path.join(self.w, "trust"), "--config",
             os.path.join(self.w, "cri.toml")], stdout=log, stderr=log, env=dict(os.environ, **env) if env else None)
        for _ in range(300):
            if os.path.exists(self.sock):
                try:
                    c = self.client(timeout=5)
                    c.rt("Version", self.pb.VersionRequest())
                    c.close()
                    return
                except Exception:
                    pass
            if self.proc.poll() is not None:
                raise SystemExit(f"stress: liftoff-cri exited with {self.proc.returncode}; see {self.w}/liftoff-cri.log")
            time.sleep(0.05)
        raise SystemExit("stress: liftoff-cri did not answer within 15 s")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def restart(self, env=None):
        self.kill()
        self.start(env)

    def client(self, timeout=60):
        return cri_client.Client(self.pb, self.sock, timeout)

    def host_state(self):
        s = {}
        s["mounts"] = {l.split()[4] for l in open("/proc/self/mountinfo") if self.w in l.split()[4]}
        s["netns"] = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
        s["veths"] = set(re.findall(r"^\d+: ([^:@]+)", sh("ip", "-o", "link", "show", "type", "veth"), re.M))
        cg = set()
        for root in ["/sys/fs/cgroup/liftoff"] + [f"/sys/fs/cgroup/{c}/liftoff" for c in
                                                   ("memory", "pids", "cpu", "cpuacct", "devices", "unified")]:
            if os.path.isdir(root):
                for dirpath, dirs, _ in os.walk(root):
                    cg.update(os.path.join(dirpath, d) for d in dirs)
        s["cgroups"] = cg
        s["ips"] = set()
        if os.path.isdir(os.path.join(self.ipam, self.net)):
            s["ips"] = {f for f in os.listdir(os.path.join(self.ipam, self.net))
                        if not f.startswith("last_reserved") and f != "lock"}
        s["iptables nat rules"] = {l for l in sh("iptables-save", "-t", "nat").splitlines() if l.startswith("-A")}
        s["stage1 processes"] = set(cmdline_pids(f"liftoff-stage1 --pod-dir {self.w}/"))
        return s

    def server_figures(self):
        pid = self.proc.pid
        rss = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1))
        return rss, len(os.listdir(f"/proc/{pid}/fd")), children(pid)

    def leak_check(self, what):
        now = self.host_state()
        leaks = 0
        for k, before in self.baseline.items():
            extra = now[k] - before
            if extra:
                leaks += 1
                fail(f"{what}: {len(extra)} {k} left: {sorted(extra)[:5]}")
        kids = [k for k in children(self.proc.pid) if not idle_spare(k[0])]
        if kids:
            leaks += 1
            fail(f"{what}: liftoff-cri still has children: {kids}")
        say(f"{what}: leak check {'clean' if not leaks else 'FAILED'} (mounts, netns, veths, cgroups, IPs, "
            "iptables nat rules, stage1 processes, liftoff-cri children)")

    def clean_all(self, c):
        """Stops and removes every container and sandbox; each call must succeed."""
        pb = self.pb
        errors = []

        def attempt(f):
            try:
                f()
            except Exception as e:  # noqa: BLE001
                errors.append(f"{e.code().name}: {e.details()}" if hasattr(e, "details") else repr(e))

        for ct in c.rt("ListContainers", pb.ListContainersRequest()).containers:
            attempt(lambda: c.rt("StopContainer", pb.StopContainerRequest(container_id=ct.id, timeout=0)))
            attempt(lambda: c.rt("RemoveContainer", pb.RemoveContainerRequest(container_id=ct.id)))
        for sb in c.rt("ListPodSandbox", pb.ListPodSandboxRequest()).items:
            attempt(lambda: c.rt("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sb.id)))
            attempt(lambda: c.rt("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sb.id)))
        if errors:
            raise RuntimeError("; ".join(errors))

    def close(self):
        try:
            if self.proc and self.proc.poll() is None:
                c = self.client(timeout=30)
                try:
                    self.clean_all(c)
                except Exception as e:
                    say(f"cleanup: {e}")
                c.close()
                self.proc.terminate()
                self.proc.wait(10)
        finally:
            subprocess.run([os.path.join(BIN, "liftoff"), "--dir", self.data, "gc", "--grace-period", "0"],
                           capture_output=True)
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
            for m in sorted(self.host_state()["mounts"], key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True)
            if not failures:
                shutil.rmtree(self.w, ignore_errors=True)
            else:
                say(f"kept {self.w} (liftoff-cri.log)")


class Timed(cri_client.Client):
    """A client that records each call's duration and outcome."""

    def __init__(self, *a, record=None, **k):
        super().__init__(*a, **k)
        self.record = record if record is not None else collections.defaultdict(list)
        self.errors = collections.Counter()

    def _call(self, service, method, request, timeout):
        t = time.perf_counter()
        try:
            r = super()._call(service, method, request, timeout)
            self.record[method].append(time.perf_counter() - t)
            return r
        except self.grpc.RpcError as e:
            self.errors[(method, e.code().name)] += 1
            raise


def pod_config(node, uid, port=None):
    pb = node.pb
    cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name=f"stress-{uid}", namespace="stress", uid=uid),
                              log_directory=os.path.join(node.w, "logs", uid), linux=pb.LinuxPodSandboxConfig())
    if port:
        cfg.port_mappings.add(protocol=pb.TCP, container_port=8080, host_port=port, host_ip="127.0.0.1")
    return cfg


def start_pod(node, c, uid, port=None, cmd=None):
    pb = node.pb
    cfg = pod_config(node, uid, port)
    sid = c.rt("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    cid = add_container(node, c, sid, cfg, "app", cmd or ["/bin/sh", "-c", f"echo stress-{uid}; exec sleep 3600"])
    return sid, cid, cfg


def add_container(node, c, sid, cfg, name, cmd):
    """Creates and starts a container NAME (log NAME.log) running CMD in the sandbox; its ID."""
    pb = node.pb
    ccfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name), image=pb.ImageSpec(image=IMAGE),
                              command=cmd, log_path=f"{name}.log", linux=pb.LinuxContainerConfig())
    cid = c.rt("CreateContainer", pb.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg,
                                                            sandbox_config=cfg)).container_id
    c.rt("StartContainer", pb.StartContainerRequest(container_id=cid))
    return cid


def lifecycle(node, c, uid, port=None, check=True):
    pb = node.pb
    sid, cid, cfg = start_pod(node, c, uid, port)
    r = c.rt("ExecSync", pb.ExecSyncRequest(container_id=cid, cmd=["cat", "/etc/hostname"], timeout=10))
    if check and r.exit_code != 0:
        fail(f"{uid}: ExecSync exit {r.exit_code}: {r.stderr!r}")
    st = c.rt("ContainerStatus", pb.ContainerStatusRequest(container_id=cid)).status
    if check:
        if st.state != pb.CONTAINER_RUNNING:
            fail(f"{uid}: container state {pb.ContainerState.Name(st.state)} after start")
        log = os.path.join(cfg.log_directory, "app.log")
        for _ in range(100):
            if os.path.exists(log) and f"stress-{uid}" in open(log).read():
                break
            time.sleep(0.05)
        else:
            fail(f"{uid}: the container's line is not in {log}")
    c.rt("StopContainer", pb.StopContainerRequest(container_id=cid, timeout=0))
    st = c.rt("ContainerStatus", pb.ContainerStatusRequest(container_id=cid)).status
    if check and st.state != pb.CONTAINER_EXITED:
        fail(f"{uid}: container state {pb.ContainerState.Name(st.state)} after StopContainer")
    c.rt("RemoveContainer", pb.RemoveContainerRequest(container_id=cid))
    c.rt("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    c.rt("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sid))


def pull(node, c, image=IMAGE):
    c.img("PullImage", node.pb.PullImageRequest(image=node.pb.ImageSpec(image=image)), timeout=300)


def idle_figures(node):
    time.sleep(5)  # liftoff-cri gives pages back after 2 s without RPCs
    return node.server_figures()


def soak(n):
    node = Node()
    try:
        c = Timed(node.pb, node.sock)
        pull(node, c)
        tag = f"soak{random.randrange(10**6)}"
        warm = max(1, n // 10)
        t0 = time.time()
        for i in range(n):
            port = 20000 + random.randrange(20000) if i % 10 == 5 else None
            lifecycle(node, c, f"{tag}-{i}", port)
            if i + 1 == warm:
                rss0, fds0, _ = idle_figures(node)
        took = time.time() - t0
        rss1, fds1, _ = idle_figures(node)
        say(f"soak: {n} lifecycles in {took:.1f} s ({took / n * 1000:.0f} ms each, 9 RPCs, client-side)")
        say(f"soak: liftoff-cri RSS {rss0} KiB after {warm}, {rss1} KiB after {n} (idle); open fds {fds0} -> {fds1}")
        if fds1 > fds0:
            fail(f"soak: liftoff-cri holds {fds1 - fds0} more descriptors than after {warm} lifecycles")
        if rss1 > rss0 * 1.5 + 8192:
            fail(f"soak: liftoff-cri's RSS grew from {rss0} to {rss1} KiB")
        for m, ds in sorted(c.record.items()):
            say(f"  {m:24s} median {statistics.median(ds) * 1000:7.2f} ms  max {max(ds) * 1000:7.2f} ms  ({len(ds)})")
        node.leak_check("soak")
    finally:
        node.close()


READS = ["ListPodSandbox", "ListContainers", "ContainerStatus", "PodSandboxStatus", "ContainerStats",
         "ListContainerStats", "PodSandboxStats", "ListPodSandboxStats", "ExecSync", "UpdateContainerResources",
         "ReopenContainerLog", "Exec", "PortForward", "Version", "Status", "RuntimeConfig", "ImageStatus",
         "ListImages", "ImageFsInfo", "ListMetricDescriptors", "ListPodSandboxMetrics"]


def read_call(node, c, m, pods):
    pb = node.pb
    sid, cid = random.choice(pods)
    req = {
        "ListPodSandbox": lambda: pb.ListPodSandboxRequest(), "ListContainers": lambda: pb.ListContainersRequest(),
        "ContainerStatus": lambda: pb.ContainerStatusRequest(container_id=cid, verbose=random.random() < 0.2),
        "PodSandboxStatus": lambda: pb.PodSandboxStatusRequest(pod_sandbox_id=sid),
        "ContainerStats": lambda: pb.ContainerStatsRequest(container_id=cid),
        "ListContainerStats": lambda: pb.ListContainerStatsRequest(),
        "PodSandboxStats": lambda: pb.PodSandboxStatsRequest(pod_sandbox_id=sid),
        "ListPodSandboxStats": lambda: pb.ListPodSandboxStatsRequest(),
        "ExecSync": lambda: pb.ExecSyncRequest(container_id=cid, cmd=["true"], timeout=10),
        "UpdateContainerResources": lambda: pb.UpdateContainerResourcesRequest(
            container_id=cid, linux=pb.LinuxContainerResources(cpu_shares=random.choice([512, 1024]))),
        "ReopenContainerLog": lambda: pb.ReopenContainerLogRequest(container_id=cid),
        "Exec": lambda: pb.ExecRequest(container_id=cid, cmd=["true"], stdout=True),
        "PortForward": lambda: pb.PortForwardRequest(pod_sandbox_id=sid, port=[8080]),
        "Version": lambda: pb.VersionRequest(), "Status": lambda: pb.StatusRequest(),
        "RuntimeConfig": lambda: pb.RuntimeConfigRequest(),
        "ImageStatus": lambda: pb.ImageStatusRequest(image=pb.ImageSpec(image=IMAGE)),
        "ListImages": lambda: pb.ListImagesRequest(), "ImageFsInfo": lambda: pb.ImageFsInfoRequest(),
        "ListMetricDescriptors": lambda: pb.ListMetricDescriptorsRequest(),
        "ListPodSandboxMetrics": lambda: pb.ListPodSandboxMetricsRequest(),
    }[m]()
    if m in ("ImageStatus", "ListImages", "ImageFsInfo"):
        return c.img(m, req)
    return c.rt(m, req)


def load(clients, seconds):
    node = Node()
    try:
        c = Timed(node.pb, node.sock)
        pull(node, c)
        pods = [start_pod(node, c, f"load-base-{i}")[:2] for i in range(5)]
        record = collections.defaultdict(list)
        errors = collections.Counter()
        lock = threading.Lock()
        deadline = time.time() + seconds
        lifecycles = [0]

        def client(k):
            mine = Timed(node.pb, node.sock, record=collections.defaultdict(list))
            n = 0
            while time.time() < deadline:
                try:
                    if random.random() < 0.1:
                        lifecycle(node, mine, f"load-{k}-{n}", check=False)
                        n += 1
                    else:
                        read_call(node, mine, random.choice(READS), pods)
                except mine.grpc.RpcError:
                    pass  # counted in mine.errors
                except Exception as e:  # noqa: BLE001
                    errors[("client", repr(e))] += 1
            with lock:
                for m, ds in mine.record.items():
                    record[m].extend(ds)
                errors.update(mine.errors)
                lifecycles[0] += n
            mine.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 300)
            if t.is_alive():
                fail("load: a client is still waiting 5 minutes after the end (deadlock?)")
        took = time.time() - t0
        total = sum(len(v) for v in record.values())
        say(f"load: {clients} clients, {took:.0f} s: {total} RPCs ({total / took:.0f}/s), {lifecycles[0]} lifecycles, "
            f"{sum(errors.values())} errors")
        for (m, code), k in sorted(errors.items()):
            fail(f"load: {m} failed {k}× with {code}")
        for m, ds in sorted(record.items()):
            s = sorted(ds)
            say(f"  {m:26s} p50 {statistics.median(s) * 1000:8.2f} ms  p99 {s[min(len(s) - 1, int(len(s) * .99))] * 1000:8.2f} ms"
                f"  ({len(s)})")
        node.clean_all(c)
        node.leak_check("load")
    finally:
        node.close()


def settle(what):
    """Waits until no `liftoff` process of this build runs: a liftoff-cri killed mid-RPC leaves its child
    to finish on its own (it holds the pod's lock meanwhile), as kubelet's next call would find too. The
    running liftoff-cri's idle spare is not waited for."""
    exe = os.path.realpath(os.path.join(BIN, "liftoff"))
    for _ in range(600):
        running = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    if os.readlink(f"/proc/{p}/exe") == exe and not idle_spare(p):
                        running.append(int(p))
                except OSError:
                    pass
        if not running:
            return
        time.sleep(0.05)
    fail(f"{what}: `liftoff` processes still running after 30 s: {running}")


def check_invariants(node, what):
    pb = node.pb
    settle(what)
    c = node.client(timeout=60)
    try:
        for sb in c.rt("ListPodSandbox", pb.ListPodSandboxRequest()).items:
            st = c.rt("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sb.id)).status
            if st.state == pb.SANDBOX_READY and not cmdline_pids(f"liftoff-stage1 --pod-dir {node.w}/"):
                fail(f"{what}: sandbox {sb.id} READY without a stage1")
        for ct in c.rt("ListContainers", pb.ListContainersRequest()).containers:
            c.rt("ContainerStatus", pb.ContainerStatusRequest(container_id=ct.id))
        node.clean_all(c)
    except Exception as e:  # noqa: BLE001
        fail(f"{what}: {e}")
    finally:
        c.close()


def faults(n):
    node = Node()
    kills = collections.Counter()
    try:
        c = node.client()
        pull(node, c)
        c.close()
        if not FAILPOINTS:
            fail("no fail-points found in Sources/LiftoffOS/FailPoint.swift")
        kinds = ["liftoff-cri", "liftoff", "stage1", "pull", "failpoint"]
        for i in range(n):
            kind = kinds[i % len(kinds)]
            uid = f"fault-{i}"
            c = node.client(timeout=60)
            if kind in ("liftoff-cri", "liftoff"):
                t = threading.Thread(target=lambda: _quiet(lambda: lifecycle(node, c, uid, check=False)))
                t.start()
                time.sleep(random.uniform(0, 0.12))
                if kind == "liftoff-cri":
                    node.kill()
                    kills[kind] += 1
                else:
                    end = time.time() + 2
                    while time.time() < end:
                        kids = [p for p, comm, _ in children(node.proc.pid) if comm == "liftoff" and not idle_spare(p)]
                        if kids:
                            _kill(kids[0])
                            kills[kind] += 1
                            break
                        time.sleep(0.002)
                t.join(120)
                if kind == "liftoff-cri":
                    node.start()
            elif kind == "stage1":
                sid, cid, _ = start_pod(node, c, uid)
                pids = cmdline_pids(f"liftoff-stage1 --pod-dir {node.w}/")
                pods = [p for p in pids if sid in open(f"/proc/{p}/cmdline").read()]
                for p in pods or pids:
                    _kill(p)
                kills[kind] += 1
                pb = node.pb
                for _ in range(100):
                    sst = c.rt("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status.state
                    cst = c.rt("ContainerStatus", pb.ContainerStatusRequest(container_id=cid)).status.state
                    if sst == pb.SANDBOX_NOTREADY and cst == pb.CONTAINER_EXITED:
                        break
                    time.sleep(0.05)
                else:
                    fail(f"round {i}: stage1 killed, but the sandbox is {pb.PodSandboxState.Name(sst)} and its "
                         f"container {pb.ContainerState.Name(cst)} 5 s later")
            elif kind == "failpoint":
                point = random.choice(FAILPOINTS)
                node.restart({"LIFTOFF_FAILPOINT": point})
                c.close()
                c = node.client(timeout=60)
                err = ""
                try:
                    if point.startswith("image."):
                        _quiet(lambda: c.img("RemoveImage", node.pb.RemoveImageRequest(image=node.pb.ImageSpec(image=PULL_IMAGE))))
                        pull(node, c, PULL_IMAGE)
                    else:
                        lifecycle(node, c, uid, check=False)
                except Exception as e:  # noqa: BLE001
                    err = str(e)
                # Seen: liftoff-cri died (image points: its socket closes a moment before it can be
                # reaped), the RPC's error carries the killed `liftoff`'s stderr, or a stage1's log says so.
                if point.startswith("image."):
                    try:
                        node.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
                seen = node.proc.poll() is not None or f"fail-point {point}" in err or any(
                    f"fail-point {point}" in open(p, errors="replace").read()
                    for p in glob.glob(os.path.join(node.data, "pods", "*", "*", "stage1", "stage1.log")))
                kills[f"fail-point {point}"] += 1
                if not seen:
                    fail(f"round {i}: fail-point {point} was never reached (the round's error: "
                         f"{err.splitlines()[0:4] if err else 'none'})")
                node.restart()
                c.close()
                c = node.client()
                if point.startswith("image."):
                    check_pulled_again(node, c, i)
            else:
                pb = node.pb
                try:
                    c.img("RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image=PULL_IMAGE)))
                except Exception:
                    pass
                # PullImage runs inside liftoff-cri (LiftoffImage): the process to kill is liftoff-cri.
                t = threading.Thread(target=lambda: _quiet(lambda: pull(node, c, PULL_IMAGE)))
                t.start()
                time.sleep(random.uniform(0, 0.1))
                node.kill()
                kills["liftoff-cri during PullImage"] += 1
                t.join(120)
                node.start()
                c.close()
                c = node.client()
                check_pulled_again(node, c, i)
            c.close()
            check_invariants(node, f"round {i} ({kind})")
        say(f"faults: {n} rounds; SIGKILLs: " + ", ".join(f"{k} {v}" for k, v in sorted(kills.items())))
        node.leak_check("faults")
    finally:
        node.close()


def check_pulled_again(node, c, i):
    """After a pull that liftoff-cri died in: the image is absent or whole, and a pull succeeds."""
    pb = node.pb
    st = c.img("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=PULL_IMAGE)))
    listed = [im for im in c.img("ListImages", pb.ListImagesRequest()).images if PULL_IMAGE in im.repo_tags]
    if st.HasField("image") != bool(listed):
        fail(f"round {i}: ImageStatus and ListImages disagree after the killed pull")
    if st.HasField("image") and st.image.size == 0:
        fail(f"round {i}: the image is listed with size 0 after the killed pull")
    try:
        pull(node, c, PULL_IMAGE)
    except Exception as e:
        fail(f"round {i}: a pull after the killed one failed: {e}")


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime + stime


def pss_kb(pid):
    try:
        return sum(int(l.split()[1]) for l in open(f"/proc/{pid}/smaps_rollup") if l.startswith("Pss:"))
    except OSError:
        return 0


def inotify_instances():
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                n += sum(1 for fd in os.listdir(f"/proc/{pid}/fd") if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify")
            except OSError:
                pass
    return n


def ask(ip, port):
    """What a TCP server at ip:port says before closing (5 s at most)."""
    import socket
    try:
        with socket.create_connection((ip, port), timeout=5) as so:
            out = b""
            while chunk := so.recv(4096):
                out += chunk
            return out
    except OSError:
        return b""


def density(n):
    node = Node()
    pb = node.pb
    hz = os.sysconf("SC_CLK_TCK")
    try:
        c = Timed(node.pb, node.sock)
        pull(node, c)
        rss0, fds0, _ = idle_figures(node)
        tag = f"dens{random.randrange(10**6)}"
        pods, starts = [], []
        t0 = time.time()
        for i in range(n):
            t = time.perf_counter()
            sid, cid, _ = start_pod(node, c, f"{tag}-{i}", cmd=["/bin/sh", "-c", "exec nc -ll -p 8080 -e echo pong"])
            starts.append(time.perf_counter() - t)
            pods.append((sid, cid))
        say(f"density: {n} pods started in {time.time() - t0:.1f} s")
        k = max(1, n // 5)
        for j in range(0, n, k):
            s = starts[j:j + k]
            say(f"  pods {j + 1:4d}-{j + len(s):4d}: start (run + create + start) median {statistics.median(s) * 1000:7.1f} ms"
                f"  max {max(s) * 1000:7.1f} ms")
        first, last = statistics.median(starts[:k]), statistics.median(starts[-k:])
        if last > first * 2 + 0.05:
            fail(f"density: a pod's start took {last * 1000:.0f} ms at the end against {first * 1000:.0f} ms at first")
        relists, ticks = [], 0
        for _ in range(5):
            c0, t = cpu_ticks(node.proc.pid), time.perf_counter()
            c.rt("ListPodSandbox", pb.ListPodSandboxRequest())
            lc = c.rt("ListContainers", pb.ListContainersRequest()).containers
            for sid, cid in pods:
                c.rt("ContainerStatus", pb.ContainerStatusRequest(container_id=cid))
                c.rt("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sid))
            relists.append(time.perf_counter() - t)
            ticks += cpu_ticks(node.proc.pid) - c0
        running = sum(1 for x in lc if x.state == pb.CONTAINER_RUNNING)
        say(f"density: relist (2 lists + {n} ContainerStatus + {n} PodSandboxStatus) median "
            f"{statistics.median(relists) * 1000:.1f} ms client-side, liftoff-cri CPU {ticks / 5 / hz * 1000:.1f} ms per relist")
        if running != n:
            fail(f"density: {running} of {n} containers RUNNING")
        # Every pod answers on its own address (traffic only to the test's bridge).
        answered = 0
        for sid, _ in pods:
            ip = c.rt("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status.network.ip
            answered += b"pong" in ask(ip, 8080)
        if answered != n:
            fail(f"density: {answered} of {n} pods answered on their IP address")
        rss1, fds1, _ = idle_figures(node)
        stage1 = cmdline_pids(f"liftoff-stage1 --pod-dir {node.w}/")
        pss = sum(pss_kb(p) for p in stage1)
        say(f"density: {answered}/{n} pods answered on their IP; {len(stage1)} stage1 processes, PSS {pss / max(1, len(stage1)):.0f} KiB each; "
            f"liftoff-cri RSS {rss0} -> {rss1} KiB ({(rss1 - rss0) / n:.1f} KiB per pod), fds {fds0} -> {fds1}; "
            f"host: {inotify_instances()} inotify instances, {len([p for p in os.listdir('/proc') if p.isdigit()])} processes")
        if len(stage1) != n:
            fail(f"density: {len(stage1)} stage1 processes for {n} pods")
        if pss / max(1, len(stage1)) + (rss1 - rss0) / n > 1024:
            fail("density: more than 1 MiB per pod")
        t = time.perf_counter()
        for sid, _ in pods:
            c.rt("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid))
            c.rt("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
        say(f"density: teardown (StopPodSandbox + RemovePodSandbox with a running container) "
            f"{(time.perf_counter() - t) / n * 1000:.0f} ms per pod")
        node.leak_check("density")
    finally:
        node.close()


def _quiet(f):
    try:
        f()
    except Exception:
        pass


def upgrade(old_bin):
    for b in ("liftoff-cri", "liftoff", "liftoff-stage1"):
        if not os.access(os.path.join(old_bin, b), os.X_OK):
            sys.exit(f"stress upgrade: no {b} in {old_bin}")
    node = Node(bin_dir=old_bin)
    pb = node.pb
    try:
        c = node.client()
        pull(node, c)
        tag = f"upg{random.randrange(10**6)}"
        port = 20000 + random.randrange(20000)
        sid, cid, cfg = start_pod(node, c, tag, port=port)
        done = add_container(node, c, sid, cfg, "done", ["/bin/sh", "-c", "exit 3"])
        for _ in range(200):
            if c.rt("ContainerStatus", pb.ContainerStatusRequest(container_id=done)).status.state == pb.CONTAINER_EXITED:
                break
            time.sleep(0.05)
        ip = c.rt("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status.network.ip
        c.close()
        # The service restarts onto the new build: the old server goes, its pods stay.
        node.proc.terminate()
        node.proc.wait(10)
        stage1s = cmdline_pids(f"liftoff-stage1 --pod-dir {node.w}/")
        old_exe = {os.path.realpath(f"/proc/{p}/exe") for p in stage1s}
        say(f"upgrade: old liftoff-cri ({old_bin}) made sandbox {sid[:12]} ({ip}); stopped; stage1 {old_exe}")
        if not stage1s:
            fail("upgrade: the sandbox's stage1 did not outlive the old liftoff-cri")
        node.bin = BIN
        node.start()
        c = node.client()
        sbs = {s.id: s for s in c.rt("ListPodSandbox", pb.ListPodSandboxRequest()).items}
        if sid not in sbs or sbs[sid].state != pb.SANDBOX_READY:
            fail(f"upgrade: the new liftoff-cri lists the sandbox as {sbs.get(sid)}")
        st = c.rt("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
        if st.network.ip != ip:
            fail(f"upgrade: the sandbox's IP is {st.network.ip!r}, it was {ip!r}")
        cts = {x.id: x for x in c.rt("ListContainers", pb.ListContainersRequest()).containers}
        if cts.get(cid) is None or cts[cid].state != pb.CONTAINER_RUNNING:
            fail(f"upgrade: the running container is listed as {cts.get(cid)}")
        ds = c.rt("ContainerStatus", pb.ContainerStatusRequest(container_id=done)).status
        if ds.state != pb.CONTAINER_EXITED or ds.exit_code != 3:
            fail(f"upgrade: the exited container is {pb.ContainerState.Name(ds.state)} with exit code {ds.exit_code}")
        r = c.rt("ExecSync", pb.ExecSyncRequest(container_id=cid, cmd=["cat", "/etc/hostname"], timeout=10))
        if r.exit_code != 0:
            fail(f"upgrade: ExecSync in the old container: exit {r.exit_code} {r.stderr!r}")
        log = os.path.join(cfg.log_directory, "app.log")
        if not (os.path.exists(log) and f"stress-{tag}" in open(log).read()):
            fail(f"upgrade: the old container's line is not in {log}")
        cid2 = add_container(node, c, sid, cfg, "new", ["/bin/sh", "-c", "exec sleep 3600"])
        if c.rt("ContainerStatus", pb.ContainerStatusRequest(container_id=cid2)).status.state != pb.CONTAINER_RUNNING:
            fail("upgrade: a new container in the old sandbox is not RUNNING")
        for x in (cid, cid2):
            c.rt("StopContainer", pb.StopContainerRequest(container_id=x, timeout=0))
            if c.rt("ContainerStatus", pb.ContainerStatusRequest(container_id=x)).status.state != pb.CONTAINER_EXITED:
                fail(f"upgrade: container {x[:12]} is not EXITED after StopContainer")
        for x in (cid, cid2, done):
            c.rt("RemoveContainer", pb.RemoveContainerRequest(container_id=x))
        c.rt("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid))
        c.rt("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
        if c.rt("ListPodSandbox", pb.ListPodSandboxRequest()).items:
            fail("upgrade: a sandbox is still listed after RemovePodSandbox")
        c.close()
        say("upgrade: the new liftoff-cri listed, exec'd into, extended, stopped and removed the old sandbox")
        node.leak_check("upgrade")
    finally:
        node.close()


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main():
    if os.getuid() != 0:
        sys.exit("stress: run as root")
    args = sys.argv[1:] or ["all"]
    what = args[0]
    if what == "soak":
        soak(int(args[1]) if len(args) > 1 else 1000)
    elif what == "load":
        load(int(args[1]) if len(args) > 1 else 50, int(args[2]) if len(args) > 2 else 300)
    elif what == "faults":
        faults(int(args[1]) if len(args) > 1 else 100)
    elif what == "density":
        density(int(args[1]) if len(args) > 1 else 100)
    elif what == "upgrade" and len(args) == 2:
        upgrade(args[1])
    elif what == "all":
        soak(100)
        load(50, 60)
        faults(20)
    else:
        sys.exit(__doc__)
    if failures:
        say(f"stress {what}: {len(failures)} failure(s)")
        sys.exit(1)
    say(f"stress {what}: passed")


if __name__ == "__main__":
    main()
