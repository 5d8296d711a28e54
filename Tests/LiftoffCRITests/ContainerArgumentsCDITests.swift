// CDI edits in the `liftoff app add` request: pure mapping from resolved edits, no server (the device
// nodes' host paths are /dev/null, which every host has).
import Foundation
@testable import LiftoffCDI
import LiftoffCore
import LiftoffPod
import Testing

@testable import LiftoffCRI

@Suite struct ContainerArgumentsCDITests {
  func render(_ edits: [CDIContainerEdits], edit: (inout Runtime_V1_ContainerConfig) -> Void = { _ in }) throws -> (app: AppOptions, env: String) {
    var request = Runtime_V1_CreateContainerRequest()
    request.config.metadata.name = "c"
    request.config.image.image = "busybox"
    edit(&request.config)
    var a = ContainerArguments(
      request: request, sandbox: try ContainerArgumentsTests().sandbox(), containerID: "c1",
      imageID: "sha256:" + String(repeating: "b", count: 64), imageName: "busybox", imageRef: "busybox")
    a.cdiDevices = try edits.enumerated().map { CDIRegistry.Resolved(device: try CDIName(parsing: "x.io/d=\($0.offset)"), specPath: "/etc/cdi/x.json", edits: $0.element) }
    guard case .add(_, let app) = try a.make() else { throw LiftoffError.internal("not an app add request") }
    return (app, app.env.map { $0 + "\0" }.joined())
  }

  /// The described devices in `--device path=…` form, for short expectations.
  func devices(_ app: AppOptions) -> [String] {
    app.devices.compactMap {
      guard case .described(let d) = $0 else { return nil }
      return "path=\(d.path),type=\(d.type),major=\(d.major),minor=\(d.minor),mode=\(String(d.fileMode, radix: 8)),uid=\(d.uid),gid=\(d.gid),access=\(d.permissions)"
    }
  }

  /// The bind mounts in `--volume HOST:CTR[:ro][:PROPAGATION][:FLAGS]` form, for short expectations.
  func volumes(_ app: AppOptions) -> [String] {
    app.mounts.map { m in
      ([m.source, m.destination] + (m.readOnly ? ["ro"] : []) + (m.propagation == .rprivate ? [] : [m.propagation.rawValue]) + m.flags)
        .joined(separator: ":")
    }
  }

  @Test func nodesTakeWhatTheSpecLeavesOutFromTheHostNode() throws {
    var e = CDIContainerEdits()
    var a = CDIDeviceNode(path: "/dev/a")
    a.hostPath = "/dev/null"
    var b = CDIDeviceNode(path: "/dev/b")  // a type and a major number are enough without a host node
    b.hostPath = "/nonexistent"
    b.type = "b"
    b.major = 7
    b.minor = 1
    b.permissions = "none"
    b.uid = 5
    var c = CDIDeviceNode(path: "/dev/a")  // replaces the first /dev/a
    c.hostPath = "/dev/null"
    c.fileMode = 0o600
    c.permissions = "r"
    e.deviceNodes = [a, b, c]
    let (app, _) = try render([e]) { $0.linux.securityContext.runAsUser.value = 1000 }
    #expect(devices(app) == [
      "path=/dev/b,type=b,major=7,minor=1,mode=666,uid=5,gid=0,access=",
      "path=/dev/a,type=c,major=1,minor=3,mode=600,uid=1000,gid=0,access=r",
    ])
    var missing = CDIDeviceNode(path: "/dev/m")
    missing.hostPath = "/nonexistent"
    var e2 = CDIContainerEdits()
    e2.deviceNodes = [missing]
    #expect { try render([e2]) } throws: { "\($0)".contains("cannot read the host node /nonexistent") }
    var outside = CDIDeviceNode(path: "/opt/dev")
    outside.hostPath = "/dev/null"
    e2.deviceNodes = [outside]
    #expect { try render([e2]) } throws: { ($0 as? LiftoffError)?.code == .unimplemented }
    var mismatch = CDIDeviceNode(path: "/dev/x")
    mismatch.hostPath = "/dev/null"
    mismatch.type = "b"
    e2.deviceNodes = [mismatch]
    #expect { try render([e2]) } throws: { "\($0)".contains("does not match the host node") }
  }

  @Test func envReplacesMountsReplaceAndSortAndGroupsAdd() throws {
    var e = CDIContainerEdits()
    e.env = ["GREETING=cdi", "NEW=1"]
    e.mounts = [
      CDIMount(hostPath: "/tmp", containerPath: "/a/b/c", options: ["ro", "nosuid", "nodev", "rbind", "rslave"]),
      CDIMount(hostPath: "/tmp", containerPath: "/a", options: ["bind"]),
      CDIMount(hostPath: "/tmp", containerPath: "/data", type: "bind"),
    ]
    e.additionalGIDs = [0, 44, 44, 45]
    let (app, env) = try render([e]) { c in
      var kv = Runtime_V1_KeyValue()
      kv.key = "GREETING"
      kv.value = Data("hello".utf8)
      c.envs = [kv]
      var m = Runtime_V1_Mount()
      m.hostPath = "/var"
      m.containerPath = "/data"  // replaced by the CDI mount at the same path
      c.mounts = [m]
    }
    #expect(env == "GREETING=cdi\0NEW=1\0")
    #expect(volumes(app) == ["/tmp:/a", "/tmp:/data", "/tmp:/a/b/c:ro:rslave:nosuid:nodev"])
    #expect(app.supplementaryGroups == [44, 45])
    for (m, word) in [
      (CDIMount(hostPath: "/tmp", containerPath: "/x", type: "tmpfs"), "mount type tmpfs"),
      (CDIMount(hostPath: "/tmp", containerPath: "/x", options: ["bind", "noatime"]), "mount option noatime"),
      (CDIMount(hostPath: "/tmp", containerPath: "/x"), "without type bind"),
    ] {
      var bad = CDIContainerEdits()
      bad.mounts = [m]
      #expect { try render([bad]) } throws: { ($0 as? LiftoffError)?.code == .unimplemented && "\($0)".contains(word) }
    }
  }

  @Test func hooksBecomeTheAppsHooksInOrderNamingTheDevice() throws {
    var e = CDIContainerEdits()
    e.env = ["A=1"]
    var h = CDIHook(hookName: "createContainer", path: "/usr/bin/nvidia-cdi-hook")
    h.args = ["nvidia-cdi-hook", "update-ldcache"]
    h.env = ["K=V"]
    h.timeout = 5
    e.hooks = [h, CDIHook(hookName: "poststop", path: "/bin/true")]
    let hooks = try render([CDIContainerEdits(), e]).app.hooks
    #expect(hooks.count == 2)
    // Through the request's JSON, as `liftoff app add --spec-file -` reads it.
    let first = try AppHook(json: try JSON.parse(hooks[0].json.serialized()), in: "hooks[0]")
    #expect(first == AppHook(
      stage: .createContainer, path: "/usr/bin/nvidia-cdi-hook", args: ["nvidia-cdi-hook", "update-ldcache"], env: ["K=V"],
      timeoutSeconds: 5, name: "CDI device x.io/d=1 (spec /etc/cdi/x.json)"))
    #expect(hooks[1].stage == .poststop)
    // A relative path or a timeout that is not positive: INVALID_ARGUMENT naming the device and the hook.
    for (bad, word) in [(CDIHook(hookName: "poststart", path: "bin/x"), "is not absolute"), (CDIHook(hookName: "poststart", path: "/x", timeout: 0), "timeout 0")] {
      var b = CDIContainerEdits()
      b.hooks = [bad]
      #expect { try render([b]) } throws: {
        ($0 as? LiftoffError)?.code == .invalidArgument && "\($0)".contains("CDI device x.io/d=0") && "\($0)".contains("hook poststart") && "\($0)".contains(word)
      }
    }
  }

  @Test func intelRdtIsRefusedNamingTheDevice() throws {
    var e = CDIContainerEdits()
    e.intelRdt = true
    #expect { try render([e]) } throws: {
      ($0 as? LiftoffError)?.code == .unimplemented && "\($0)".contains("CDI device x.io/d=0") && "\($0)".contains("intelRdt is not supported")
    }
  }

  @Test func requestedNamesComeFromTheFieldThenTheAnnotationsOnce() throws {
    var c = Runtime_V1_ContainerConfig()
    var d = Runtime_V1_CDIDevice()
    d.name = "x.io/d=b"
    c.cdiDevices = [d]
    c.annotations = ["cdi.k8s.io/p": "x.io/d=a,x.io/d=b", "other": "x"]
    #expect(try ContainerArguments.requestedCDIDevices(c).map(\.description) == ["x.io/d=b", "x.io/d=a"])
    d.name = "x.io/d=../../etc"
    c.cdiDevices = [d]
    #expect { try ContainerArguments.requestedCDIDevices(c) } throws: { "\($0)".contains("config.CDI_devices[0].name") }
  }
}
