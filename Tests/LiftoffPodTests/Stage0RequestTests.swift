// The liftoff-cri → liftoff request (Stage0Request) and answer: every kind round-trips through
// LiftoffCore's JSON, and bad input names the key path.
import LiftoffCore
import Testing

@testable import LiftoffPod

@Suite struct Stage0RequestTests {
  static var fullApp: AppOptions {
    var a = AppOptions(imageName: "sha256:" + String(repeating: "b", count: 64))
    a.name = "c1"
    a.exec = "/bin/sh"
    a.args = ["-c", "echo a,b:c"]
    a.env = ["PASSWORD=hunter2", "MULTI=line1\nline2"]
    a.user = "1000"
    a.group = "1000"
    a.workingDir = "/w"
    var bind = AppMount(destination: "/data:x", source: "/srv/a:b,c", readOnly: true, propagation: .rslave)
    bind.flags = ["nosuid", "nodev"]
    bind.uidMappings = [IDMapping(containerID: 0, hostID: 100000, size: 65536)]
    bind.gidMappings = [IDMapping(containerID: 0, hostID: 100000, size: 65536)]
    var image = AppMount(destination: "/models", type: "image", source: "sha256:" + String(repeating: "c", count: 64), readOnly: true)
    image.image = AppImage(name: "registry.example/models:v1", id: image.source, layerDirs: [])
    image.subPath = "weights/a,b"
    a.mounts = [bind, AppMount(destination: "/tmp", type: "tmpfs", source: "tmpfs", data: "mode=1777,size=64m"), image]
    a.readOnlyRootfs = true
    a.capsRetain = ["CAP_CHOWN"]
    a.capsAmbient = ["CAP_NET_BIND_SERVICE"]
    a.capsRemove = ["CAP_KILL"]
    a.seccomp = "localhost//etc/profile.json"
    a.resources.memoryBytes = 64 << 20
    a.resources.cpuQuotaUs = -1
    a.resources.hugepageLimits = [.init(pageSize: "2MB", limitBytes: 0)]
    a.resources.unified = ["memory.high": "32M"]
    a.rlimits = [AppRlimit(type: "RLIMIT_NOFILE", soft: 1024, hard: UInt64.max)]
    a.oomScoreAdj = -999
    a.noNewPrivileges = false
    a.stopSignal = "15"
    a.logPath = "/var/log/pods/x/c/0.log"
    a.annotations = ["k=": "v,1"]
    a.labels = ["app": "web"]
    a.privileged = true
    a.maskedPaths = ["/proc/a,b"]
    a.readonlyPaths = []
    a.sysctls = ["net.ipv4.ip_forward": "1"]
    a.devices = [
      .host(path: "/dev/null:x", containerPath: "/dev/n", permissions: "rw"),
      .described(AppDevice(path: "/dev/gpu0", type: "c", major: 195, minor: 0, fileMode: 0o660, uid: 0, gid: 44, permissions: "rw")),
    ]
    a.supplementaryGroups = [44, UInt32.max]
    a.supplementaryGroupsStrict = true
    a.pidNamespace = .target
    a.pidTarget = "other"
    a.tty = true
    a.stdin = true
    a.stdinOnce = true
    a.listenFDs = 2
    a.listenFDNames = "a:b"
    return a
  }

  static var requests: [Stage0Request] {
    var s = SandboxRequest()
    s.net = "default"
    s.portMappings = [.init(hostPort: 8080, containerPort: 80, proto: "udp", hostIP: "::1"), .init(hostPort: 1, containerPort: 2)]
    s.dns = ["10.0.0.10"]
    s.dnsSearch = ["svc.cluster.local"]
    s.dnsOptions = ["ndots:5"]
    s.cniArgs = ["K8S_POD_NAME": "web", "X": "a=b"]
    s.hostname = "web"
    s.stage1 = "fly"
    s.stopTimeoutSeconds = 3
    s.annotations = ["a": "b"]
    s.labels = ["l": "m"]
    s.userNamespace = UserNamespaceMappings(
      uids: [IDMapping(containerID: 0, hostID: 100000, size: 65536)], gids: [IDMapping(containerID: 0, hostID: 100000, size: 65536)])
    s.ipcNamespace = "host"
    s.pidNamespace = "pod"
    s.cgroupParent = "/kubepods/pod1"
    s.cgroupDriver = "systemd"
    var r = AppResources()
    r.cpuShares = 2
    r.cpusetCpus = "0-1"
    return [
      .sandbox(SandboxRequest()), .sandbox(s), .add(pod: "p", app: AppOptions(imageName: "busybox")), .add(pod: "p", app: fullApp),
      .start(pod: "p", app: "a"), .stop(pod: "p", app: "a", timeoutSeconds: 0), .remove(pod: "p", app: "a"),
      .update(pod: "p", app: "a", resources: r, oomScoreAdj: 5), .update(pod: "p", app: nil, resources: r, oomScoreAdj: nil),
      .reopenLog(pod: "p", app: "a"), .stopPods(ids: ["p", "q"], force: true, timeoutSeconds: nil),
      .stopPods(ids: ["p"], force: false, timeoutSeconds: 0), .removePods(ids: ["p"]),
    ]
  }

  @Test func everyKindRoundTrips() throws {
    for request in Self.requests {
      let text = request.json.serialized()
      #expect(try Stage0Request(json: try JSON.parse(text)) == request, "\(text)")
      #expect(Stage0Request.verbs.contains(request.verb))
    }
    #expect(Set(Self.requests.map(\.verb)) == Set(Stage0Request.verbs))
  }

  @Test func podRequestsRoundTrip() throws {
    guard case .sandbox(let pod) = Self.requests[1] else { Issue.record("requests[1] is not a sandbox"); return }
    for request in [PodRequest(apps: [AppOptions(imageName: "busybox")]), PodRequest(pod: pod, apps: [Self.fullApp, AppOptions(imageName: "b")])] {
      let text = request.json.serialized()
      #expect(try PodRequest(json: try JSON.parse(text)) == request, "\(text)")
    }
    #expect { try PodRequest(json: try JSON.parse(#"{"pod":{}}"#)) } throws: { "\($0)".contains("at least one app") }
  }

  @Test func settingsRideWithTheRequest() throws {
    let settings = Stage0Settings(dir: "/d", cniConfDir: "/c", cniBinDirs: ["/b1", "/b2"], cniDefaultNetwork: false, trustDir: "/t")
    for s in [settings, Stage0Settings()] {
      let (request, read) = try Stage0Request.read(try JSON.parse(Stage0Request.removePods(ids: ["p"]).json(settings: s).serialized()))
      #expect(request == .removePods(ids: ["p"]))
      #expect(read == s)
    }
    #expect(try Stage0Request.read(try JSON.parse(Stage0Request.removePods(ids: ["p"]).json.serialized())).1 == nil)
    #expect { try Stage0Request.read(try JSON.parse(#"{"v":2,"op":"rm","pods":[],"settings":{"cniBinDirs":["/a:/b"]}}"#)) } throws: {
      "\($0)".contains("settings.cniBinDirs[0]")
    }
    #expect { try Stage0Request.read(try JSON.parse(#"{"v":2,"op":"rm","pods":[],"settings":{"dirr":"/x"}}"#)) } throws: {
      "\($0)".contains("settings.dirr: unknown key")
    }
  }

  @Test func answersRoundTripAndCarryTheCode() throws {
    for answer in [Stage0Answer.ok(.object([])), .ok(.obj([("id", .string("x"))])), .error(.notFound, "pod p not found")] {
      #expect(try Stage0Answer(json: try JSON.parse(answer.json.serialized())) == answer)
    }
    #expect { try Stage0Answer.error(.failedPrecondition, "m").result() } throws: { ($0 as? LiftoffError)?.code == .failedPrecondition }
  }

  @Test func unknownKeysAndWrongTypesNameTheKeyPath() throws {
    for (text, word) in [
      (#"{"v":1,"op":"app start","pod":"p","app":"a","extra":1}"#, "extra: unknown key"),
      (#"{"v":1,"op":"app add","pod":"p","app":{"image":"x","mountz":[]}}"#, "app.mountz: unknown key"),
      (#"{"v":1,"op":"app add","pod":"p","app":{"image":"x","mounts":[{"destination":"/a","readOnly":"yes"}]}}"#, "app.mounts[0].readOnly: expected a boolean"),
      (#"{"v":1,"op":"app add","pod":"p","app":{"image":"x","env":["A=1",2]}}"#, "app.env[1]: expected a string"),
      (#"{"v":1,"op":"app add","pod":"p","app":{"image":"x","resources":{"memory":1}}}"#, "app.resources.memory: unknown key"),
      (#"{"v":1,"op":"app add","pod":"p","app":{"image":"x","supplementaryGroups":[-1]}}"#, "app.supplementaryGroups[0]"),
      (#"{"v":1,"op":"app sandbox","sandbox":{"stopTimeoutSeconds":"3"}}"#, "sandbox.stopTimeoutSeconds: expected an integer"),
      (#"{"v":1,"op":"app stop","pod":"p"}"#, "app: missing"),
      (#"{"v":2,"op":"app sandbox","sandbox":{"portMappings":["1:2:3/tcp"]}}"#, "sandbox.portMappings[0]: expected an object"),
      (#"{"v":2,"op":"app sandbox","sandbox":{"portMappings":[{"hostPort":1}]}}"#, "sandbox.portMappings[0].containerPort: missing"),
      (#"{"v":2,"op":"app sandbox","sandbox":{"portMappings":[{"hostPort":1,"containerPort":2,"proto":"tcp"}]}}"#, "sandbox.portMappings[0].proto: unknown key"),
      (#"{"v":2,"op":"app sandbox","sandbox":{"cniArgs":["A=1"]}}"#, "sandbox.cniArgs: expected an object"),
      (#"{"v":1,"op":"app dance"}"#, "unknown verb"),
      (#"{"v":9,"op":"rm","pods":["p"]}"#, "newer"),
      (#"[1]"#, "expected an object"),
    ] {
      #expect { try Stage0Request(json: try JSON.parse(text)) } throws: { "\($0)".contains(word) }
    }
  }
}
