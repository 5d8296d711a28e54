// CDI devices (Container Device Interface) through the real socket: liftoff-cri started with a temporary
// `--cdi-spec-dirs` holding a JSON spec, a YAML spec, a broken spec and one of a too-new version;
// device nodes made with mknod in a temporary directory as host paths, appearing at other container
// paths; containers asking by `CDI_devices` and by `cdi.k8s.io/*` annotation.
import Foundation
import GRPCCore
import LiftoffCRI
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
           "hooks": [{"hookName": "createContainer", "path": "/usr/bin/true"}]}}
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

  @Test func cdiDevicesMountsEnvAndGroupsReachTheContainer() async throws {
    guard let env = ImageServiceTests.registry() else { return }
    let image = "\(env["LIFTOFF_TEST_REGISTRY"]!)/liftoff-test/busybox:latest"
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
      await expectRPCError(.unimplemented, "CDI device test.liftoff.io/dev=hooked") { try await create(["test.liftoff.io/dev=hooked"]) }
      await expectRPCError(.unimplemented, "hook createContainer") { try await create(["test.liftoff.io/dev=hooked"]) }

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
}
