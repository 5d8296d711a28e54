// CDI devices (Container Device Interface) through the real socket: liftoff-cri started with a temporary
// `--cdi-spec-dirs` holding a JSON spec, a YAML spec, a broken spec and one of a too-new version;
// device nodes made with mknod in a temporary directory as host paths, appearing at other container
// paths; containers asking by `CDI_devices` and by `cdi.k8s.io/*` annotation. Hooks of every stage:
// small scripts that record what they were given in a file the container also sees.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct CDITests {
  /// The spec directory and the host files the specs name, under `root`.
  static func writeSpecs(root: String) throws -> String {
    let fm = FileManager.default
    let cdi = root + "/cdi", dev = root + "/dev", lib = root + "/lib"
    for d in [cdi, dev, lib] { try fm.createDirectory(atPath: d, withIntermediateDirectories: true) }
    // /dev/null's numbers (allowed to every container anyway) and /dev/fuse's (allowed to none by default).
    _ = try runTool(["/usr/bin/mknod", "-m", "666", dev + "/null-node", "c", "1", "3"])
    _ = try runTool(["/usr/bin/mknod", "-m", "600", dev + "/fuse-node", "c", "10", "229"])
    _ = try runTool(["/usr/bin/mknod", "-m", "600", dev + "/loop-control-node", "c", "10", "237"])
    try "from-the-cdi-mount\n".write(toFile: lib + "/libfoo.txt", atomically: true, encoding: .utf8)
    try """
      {"cdiVersion": "0.7.0", "kind": "test.liftoff.io/dev",
       "containerEdits": {"env": ["CDI_SPEC_LEVEL=1"]},
       "devices": [
        {"name": "null", "containerEdits": {
           "env": ["CDI_DEVICE=null", "GREETING=from-cdi"],
           "deviceNodes": [{"path": "/dev/cdi/nested/null", "hostPath": "\(dev)/null-node"}],
           "mounts": [{"hostPath": "\(lib)", "containerPath": "/opt/cdi-lib", "options": ["ro", "nosuid", "nodev", "bind"]}],
           "additionalGids": [4242]}},
        {"name": "fuse", "containerEdits": {
           "deviceNodes": [{"path": "/dev/cdi-fuse", "hostPath": "\(dev)/fuse-node", "permissions": "rw", "fileMode": 432}]}},
        {"name": "hooked", "containerEdits": {
           "deviceNodes": [{"path": "/dev/cdi-hooked", "type": "c", "major": 1, "minor": 5}],
           "hooks": [{"hookName": "createContainer", "path": "/usr/bin/true"}]}},
        {"name": "rdt", "containerEdits": {"env": ["A=1"], "intelRdt": {"closID": "x"}}},
        {"name": "relative-hook", "containerEdits": {"hooks": [{"hookName": "poststart", "path": "bin/true"}]}}
       ]}
      """.write(toFile: cdi + "/dev.json", atomically: true, encoding: .utf8)
    try """
      cdiVersion: "0.6.0"
      kind: test.liftoff.io/yaml
      devices:
        - name: ro-null
          annotations: {note: read-only}
          containerEdits:
            env: [YAML_DEVICE=ro-null]
            deviceNodes:
              - path: /dev/cdi-ro
                hostPath: \(dev)/loop-control-node
                permissions: r
      """.write(toFile: cdi + "/yaml.yaml", atomically: true, encoding: .utf8)
    try #"{"cdiVersion": "0.6.0", "kind": "test.liftoff.io/broken", "devices": ["#.write(toFile: cdi + "/broken.json", atomically: true, encoding: .utf8)
    try "cdiVersion: 1.1.0\nkind: test.liftoff.io/new\ndevices:\n- name: n\n  containerEdits: {env: [A=1]}\n"
      .write(toFile: cdi + "/new.yml", atomically: true, encoding: .utf8)
    return cdi
  }

  @Test(.needsRegistry) func cdiDevicesMountsEnvAndGroupsReachTheContainer() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-cdi-\(UUID().uuidString.prefix(8))").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    let specDir = try Self.writeSpecs(root: root)
    let server = try CRITestServer(extraArguments: ["--cdi-spec-dirs", root + "/absent", "--cdi-spec-dirs", specDir])
    defer { server.stop() }
    try await server.withClients { runtime, images in
      let sandboxID = try await pullAndRunSandbox(runtime, images, image: image, name: "cdi")
      var config = containerConfig("cdi", image: image, "sleep 1000")
      var dev = Runtime_V1_CDIDevice()
      dev.name = "test.liftoff.io/dev=null"
      var fuse = Runtime_V1_CDIDevice()
      fuse.name = "test.liftoff.io/dev=fuse"
      config.cdiDevices = [dev, fuse, dev]  // a repeat is applied once
      config.annotations["cdi.k8s.io/test"] = "test.liftoff.io/yaml=ro-null,test.liftoff.io/dev=fuse"
      let id = try await createAndStart(runtime, sandboxID: sandboxID, config)

      // The node from the temporary directory, at another path (its directories made), with the host node's
      // numbers; writable.
      #expect(try await execOutput(runtime, id, "stat -c '%t:%T %F %a' /dev/cdi/nested/null; echo x > /dev/cdi/nested/null && echo written")
        == "1:3 character special file 666\nwritten\n")
      // /dev/fuse's numbers are allowed to no container by default: the device cgroup allows them for this
      // one (rw, fileMode 0660 from the spec); /dev/loop-control's only for reading (the YAML spec's r).
      let fuseCheck = """
        stat -c '%t:%T %a' /dev/cdi-fuse; (exec 3<>/dev/cdi-fuse) && echo fuse-open
        (exec 3</dev/cdi-ro) && echo ro-read-open; (exec 3>/dev/cdi-ro) 2>/dev/null && echo ro-write-open || echo ro-write-denied
        test -e /dev/cdi-hooked || echo hooked-absent
        """
      let fuseOut = try await execOutput(runtime, id, fuseCheck + " 2>&1")
      #expect(fuseOut == "a:e5 660\nfuse-open\nro-read-open\nro-write-denied\nhooked-absent\n", "\(fuseOut)")
      // Env: spec-level, device-level, from the YAML spec; a CDI value replaces the container's own.
      #expect(try await execOutput(runtime, id, "echo $CDI_SPEC_LEVEL $CDI_DEVICE $YAML_DEVICE $GREETING") == "1 null ro-null from-cdi\n")
      // The mount: the host directory, read-only, nosuid and nodev as the kernel reports them.
      #expect(try await execOutput(runtime, id, "cat /opt/cdi-lib/libfoo.txt; touch /opt/cdi-lib/new 2>&1 | grep -c 'Read-only'") == "from-the-cdi-mount\n1\n")
      let info = try await execOutput(runtime, id, "grep ' /opt/cdi-lib ' /proc/self/mountinfo")
      let options = info.split(separator: " ").dropFirst(5).first.map { $0.split(separator: ",").map(String.init) } ?? []
      #expect(["ro", "nosuid", "nodev"].allSatisfy(options.contains), "\(info)")
      // additionalGids.
      #expect(try await execOutput(runtime, id, "grep '^Groups:' /proc/self/status").split(separator: "\t").last?.split(separator: " ").contains("4242") == true)

      // A container that asked for nothing: no CDI node, and the fuse numbers are denied by its device cgroup.
      let plain = try await createAndStart(runtime, sandboxID: sandboxID, containerConfig("plain", image: image, "sleep 1000"))
      let denied = try await execOutput(runtime, plain, """
        test -e /dev/cdi || echo no-node; test -e /opt/cdi-lib || echo no-mount
        mknod /tmp/f c 10 229 && echo mknod-ok; (exec 3<>/tmp/f) 2>/dev/null && echo fuse-open || echo fuse-denied
        """)
      // CAP_MKNOD and the default `c *:* m` rule let it make the node; only the device cgroup denies opening it.
      #expect(denied == "no-node\nno-mount\nmknod-ok\nfuse-denied\n", "\(denied)")

      // Names that do not resolve or are not names, hooks: refused, naming the device.
      func create(_ names: [String], annotation: String? = nil) async throws {
        var c = Runtime_V1_CreateContainerRequest()
        c.podSandboxID = sandboxID
        c.config = containerConfig("refused", image: image, "true")
        c.config.cdiDevices = names.map { var d = Runtime_V1_CDIDevice(); d.name = $0; return d }
        if let annotation { c.config.annotations["cdi.k8s.io/x"] = annotation }
        _ = try await runtime.createContainer(c)
      }
      await expectRPCError(.invalidArgument, "unresolvable CDI devices test.liftoff.io/dev=nope") { try await create(["test.liftoff.io/dev=nope"]) }
      await expectRPCError(.invalidArgument, "unresolvable CDI devices test.liftoff.io/broken=x") { try await create([], annotation: "test.liftoff.io/broken=x") }
      await expectRPCError(.invalidArgument, "test.liftoff.io/new=n") { try await create(["test.liftoff.io/new=n"]) }
      await expectRPCError(.invalidArgument, "config.CDI_devices[0].name: invalid CDI device name \"../x/y=z\"") { try await create(["../x/y=z"]) }
      await expectRPCError(.invalidArgument, "annotation cdi.k8s.io/x") { try await create([], annotation: "test.liftoff.io/dev=null,/dev/sda") }
      await expectRPCError(.unimplemented, "CDI device test.liftoff.io/dev=rdt (spec \(specDir)/dev.json): intelRdt is not supported") {
        try await create(["test.liftoff.io/dev=rdt"])
      }
      await expectRPCError(.invalidArgument, "CDI device test.liftoff.io/dev=relative-hook") { try await create(["test.liftoff.io/dev=relative-hook"]) }
      await expectRPCError(.invalidArgument, "hook poststart (bin/true): path \"bin/true\" is not absolute") {
        try await create(["test.liftoff.io/dev=relative-hook"])
      }

      // A spec written while liftoff-cri runs is used by the next CreateContainer, and so is a change to one.
      let late = specDir + "/late.json"
      func writeLate(_ value: String) throws {
        try #"{"cdiVersion": "0.3.0", "kind": "test.liftoff.io/late", "devices": [{"name": "l", "containerEdits": {"env": ["LATE=\#(value)"]}}]}"#
          .write(toFile: late, atomically: true, encoding: .utf8)
      }
      var lateConfig = containerConfig("late", image: image, "sleep 1000")
      var l = Runtime_V1_CDIDevice()
      l.name = "test.liftoff.io/late=l"
      lateConfig.cdiDevices = [l]
      try writeLate("one")
      let lateID = try await createAndStart(runtime, sandboxID: sandboxID, lateConfig)
      #expect(try await execOutput(runtime, lateID, "echo $LATE") == "one\n")
      try writeLate("two")
      lateConfig.metadata.name = "late2"
      let late2ID = try await createAndStart(runtime, sandboxID: sandboxID, lateConfig)
      #expect(try await execOutput(runtime, late2ID, "echo $LATE") == "two\n")
    }
    // The broken and the too-new spec were skipped with a warning naming the file and the problem.
    let log = server.log()
    #expect(log.contains("CDI spec skipped") && log.contains("\(specDir)/broken.json") && log.contains("is not valid JSON"), "\(log.suffix(3000))")
    #expect(log.contains("\(specDir)/new.yml") && log.contains("cdiVersion 1.1.0 is newer"))
  }

  /// The hook scripts and a spec whose devices have hooks of every stage, under `root`; the log all
  /// hooks append to is `root/shared/log` (the container sees `root/shared` at /hooklog).
  static func writeHookSpecs(root: String) throws -> String {
    let fm = FileManager.default
    let cdi = root + "/cdi", shared = root + "/shared", bin = root + "/bin"
    for d in [cdi, shared, bin] { try fm.createDirectory(atPath: d, withIntermediateDirectories: true) }
    // A host hook: one JSON line with its stage, working directory, environment, mount namespace and
    // the state from stdin; createContainer also writes into the rootfs named by the bundle's config.json.
    try """
      #!/usr/bin/python3
      import json, os, sys
      stage, log = sys.argv[1], sys.argv[2]
      # Python adds LC_CTYPE to a C locale's environment (PEP 538): not the hook's doing.
      entry = {"stage": stage, "cwd": os.getcwd(), "env": {k: v for k, v in os.environ.items() if k != "LC_CTYPE"}, "mntns": os.readlink("/proc/self/ns/mnt"),
               "state": json.load(sys.stdin)}
      if stage == "createContainer":
          cfg = json.load(open("config.json"))
          with open(os.path.join(cfg["root"]["path"], "hook-was-here"), "w") as f:
              f.write("made by createContainer\\n")
          entry["config"] = cfg
      with open(log, "a") as f:
          f.write(json.dumps(entry) + "\\n")
      """.write(toFile: bin + "/hook.py", atomically: true, encoding: .utf8)
    chmod(bin + "/hook.py", 0o755)
    func host(_ stage: String, _ extra: String = "") -> String {
      #"{"hookName": "\#(stage)", "path": "\#(bin)/hook.py", "args": ["hook.py", "\#(stage)", "\#(shared)/log"], "env": ["HOOK_ENV=\#(stage)"]\#(extra)}"#
    }
    // Inside the container (busybox): the same line from sh.
    let start = #"""
      {"hookName": "startContainer", "path": "/bin/sh", "env": ["PATH=/bin"], "args": ["sh", "-c",
        "printf '{\"stage\": \"startContainer\", \"uid\": %s, \"mntns\": \"%s\", \"state\": ' $(id -u) $(readlink /proc/self/ns/mnt) >> /hooklog/log; cat >> /hooklog/log; echo '}' >> /hooklog/log"]}
      """#
    let fail = #"{"hookName": "createContainer", "path": "/bin/sh", "args": ["sh", "-c", "echo boom-from-hook >&2; exit 3"]}"#
    let failRuntime = #"{"hookName": "createRuntime", "path": "/bin/sh", "args": ["sh", "-c", "echo runtime-says-no; exit 4"]}"#
    // A hook that hangs, with a child of its own in its process group: both are killed at the timeout.
    let hang = #"{"hookName": "createRuntime", "path": "/bin/sh", "args": ["sh", "-c", "/bin/sleep 987654 & exec /bin/sleep 987653"], "timeout": 1}"#
    let marker = #"{"hookName": "poststop", "path": "/bin/sh", "args": ["sh", "-c", "cat > \#(root)/poststop-after-failure"]}"#
    try """
      {"cdiVersion": "0.6.0", "kind": "test.liftoff.io/hooks",
       "devices": [
        {"name": "all", "containerEdits": {
           "mounts": [{"hostPath": "\(shared)", "containerPath": "/hooklog", "options": ["rw", "bind"]}],
           "hooks": [\(host("poststop")), \(host("poststart")), \(start), \(host("createContainer")), \(host("createRuntime"))]}},
        {"name": "failing", "containerEdits": {"hooks": [\(marker), \(fail)]}},
        {"name": "failing-runtime", "containerEdits": {"hooks": [\(failRuntime)]}},
        {"name": "hanging", "containerEdits": {"hooks": [\(hang)]}}
       ]}
      """.write(toFile: cdi + "/hooks.json", atomically: true, encoding: .utf8)
    return cdi
  }

  @Test(.needsRegistry) func cdiHooksRunAtEveryStageInOrderAndFailuresFailTheStart() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-cdi-hooks-\(UUID().uuidString.prefix(8))").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    let specDir = try Self.writeHookSpecs(root: root)
    let server = try CRITestServer(extraArguments: ["--cdi-spec-dirs", specDir])
    defer { server.stop() }
    @Sendable func entries() throws -> [[String: Any]] {
      let text = (try? String(contentsOfFile: root + "/shared/log", encoding: .utf8)) ?? ""
      return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }
    @Sendable func config(_ name: String, _ device: String) -> Runtime_V1_ContainerConfig {
      var c = containerConfig(name, image: image, "sleep 1000")
      var d = Runtime_V1_CDIDevice()
      d.name = "test.liftoff.io/hooks=\(device)"
      c.cdiDevices = [d]
      return c
    }
    try await server.withClients { runtime, images in
      let sandboxID = try await pullAndRunSandbox(runtime, images, image: image, name: "cdi-hooks")
      let id = try await createAndStart(runtime, sandboxID: sandboxID, config("hooked", "all"))

      // The spec lists them out of order: they run by stage. (The spec lists poststop first.)
      var log = try entries()
      #expect(log.map { $0["stage"] as? String } == ["createRuntime", "createContainer", "startContainer", "poststart"], "\(log)")
      let containerNS = try await execOutput(runtime, id, "readlink /proc/self/ns/mnt").trimmingCharacters(in: .whitespacesAndNewlines)
      let hostNS = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
      guard log.count == 4 else { return }
      let states = log.map { $0["state"] as? [String: Any] ?? [:] }
      #expect(states.map { $0["status"] as? String } == ["creating", "creating", "created", "running"])
      #expect(states.allSatisfy { $0["id"] as? String == id && $0["ociVersion"] as? String == "1.2.0" })
      #expect(states.allSatisfy { ($0["annotations"] as? [String: String])?["test.liftoff.io/container"] == "hooked" })
      // The host pid of the app's process, in every stage's state (not 1, its pid in its own namespace).
      let pids = Set(states.map { $0["pid"] as? Int ?? 0 })
      #expect(pids.count == 1 && pids.first! > 1, "\(pids)")
      let pid = pids.first!
      #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt") == containerNS)
      // The bundle: config.json with the rootfs as root.path; the host hooks run in the bundle with
      // exactly their env.
      let bundle = states[0]["bundle"] as? String ?? ""
      #expect(bundle.hasPrefix("/") && bundle.hasSuffix("/apps/\(id)/bundle") && Set(states.map { $0["bundle"] as? String }) == [bundle])
      for e in log where e["stage"] as? String != "startContainer" {
        #expect(e["cwd"] as? String == bundle)
        #expect(e["env"] as? [String: String] == ["HOOK_ENV": e["stage"] as! String], "\(e)")
      }
      let cfg = log[1]["config"] as? [String: Any] ?? [:]
      let rootPath = (cfg["root"] as? [String: Any])?["path"] as? String ?? ""
      #expect(rootPath.hasSuffix("/apps/\(id)/rootfs/merged"), "\(cfg)")
      #expect(((cfg["process"] as? [String: Any])?["args"] as? [String]) == ["/bin/sh", "-c", "sleep 1000"])
      #expect(((cfg["mounts"] as? [[String: Any]]) ?? []).contains { $0["destination"] as? String == "/hooklog" && $0["source"] as? String == root + "/shared" })
      // Namespaces: createRuntime and poststart in the runtime's (stage1's, not the container's, and
      // not this test's either); createContainer and startContainer in the container's.
      #expect(log[0]["mntns"] as? String != containerNS && log[0]["mntns"] as? String != hostNS)
      #expect(log[3]["mntns"] as? String == log[0]["mntns"] as? String)
      #expect(log[1]["mntns"] as? String == containerNS && log[2]["mntns"] as? String == containerNS)
      #expect(log[2]["uid"] as? Int == 0)
      // What createContainer wrote through root.path is in the container.
      #expect(try await execOutput(runtime, id, "cat /hook-was-here") == "made by createContainer\n")

      // poststop after the container stopped (stage "stopped", the same pid); only once, also after removal.
      var stop = Runtime_V1_StopContainerRequest()
      stop.containerID = id
      stop.timeout = 1
      _ = try await runtime.stopContainer(stop)
      #expect(try await eventually { try entries().count == 5 })
      log = try entries()
      #expect(log.last?["stage"] as? String == "poststop" && (log.last?["state"] as? [String: Any])?["status"] as? String == "stopped")
      #expect((log.last?["state"] as? [String: Any])?["pid"] as? Int == pid)
      var rm = Runtime_V1_RemoveContainerRequest()
      rm.containerID = id
      _ = try await runtime.removeContainer(rm)
      #expect(try entries().count == 5)

      // A failing createContainer hook fails StartContainer naming the device, the hook, its status and
      // output; the container is exited (not running), its poststop hook ran, and it can be removed.
      func startFails(_ name: String, _ device: String, _ fragments: [String]) async throws -> String {
        var create = Runtime_V1_CreateContainerRequest()
        create.podSandboxID = sandboxID
        create.config = config(name, device)
        let cid = try await runtime.createContainer(create).containerID
        var start = Runtime_V1_StartContainerRequest()
        start.containerID = cid
        do {
          _ = try await runtime.startContainer(start)
          Issue.record("StartContainer of \(device) succeeded")
        } catch let e as RPCError {
          for f in fragments { #expect(e.message.contains(f), "\(e.message)") }
        }
        var status = Runtime_V1_ContainerStatusRequest()
        status.containerID = cid
        #expect(try await runtime.containerStatus(status).status.state == .containerExited)
        return cid
      }
      let failed = try await startFails("failing", "failing", [
        "hook createContainer /bin/sh (CDI device test.liftoff.io/hooks=failing (spec \(specDir)/hooks.json))",
        "exited with status 3: boom-from-hook",
      ])
      #expect(FileManager.default.fileExists(atPath: root + "/poststop-after-failure"))
      var rmFailed = Runtime_V1_RemoveContainerRequest()
      rmFailed.containerID = failed
      _ = try await runtime.removeContainer(rmFailed)
      // A failing createRuntime hook (run by stage1, the app's process waiting before pivot_root): the same.
      _ = try await startFails("failing-runtime", "failing-runtime", ["hook createRuntime /bin/sh", "exited with status 4: runtime-says-no"])

      // A hanging hook is killed at its timeout (1 s), with the child it started.
      let began = Date()
      _ = try await startFails("hanging", "hanging", ["hook createRuntime /bin/sh", "was killed after its timeout of 1 s"])
      #expect(Date().timeIntervalSince(began) < 15)
      func sleeping() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { p in
          guard Int(p) != nil, let c = FileManager.default.contents(atPath: "/proc/\(p)/cmdline") else { return false }
          return String(decoding: c, as: UTF8.self).contains("98765")
        }
      }
      #expect(try await eventually(5) { sleeping().isEmpty }, "\(sleeping())")
      // The sandbox still works.
      let after = try await createAndStart(runtime, sandboxID: sandboxID, containerConfig("after", image: image, "sleep 1000"))
      #expect(try await execOutput(runtime, after, "echo ok") == "ok\n")
    }
  }
}
