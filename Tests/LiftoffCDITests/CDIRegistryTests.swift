import Foundation
import LiftoffCDI
import LiftoffCore
import Testing

@Suite struct CDINameTests {
  @Test func parsesQualifiedNames() throws {
    let n = try CDIName(parsing: "vendor.com/gpu=0")
    #expect(n.vendor == "vendor.com" && n.class == "gpu" && n.name == "0")
    #expect(try CDIName(parsing: "a/b-c.d=card:1_x").name == "card:1_x")
  }

  @Test(arguments: [
    "", "gpu=0", "vendor.com/gpu", "vendor.com/gpu=", "/gpu=0", "vendor.com/=0", "1vendor/gpu=0", "vendor-/gpu=0",
    "vendor.com/gpu=-0", "vendor.com/gpu=0/../x", "vendor.com/gpu=a b", "vendor.com/g/pu=0", "vendor.com/gpu=0,1",
    "vendor.com/gpu=x\0",
  ])
  func refusesInvalidNames(_ s: String) {
    #expect(throws: CDIError.self) { try CDIName(parsing: s) }
  }

  @Test func annotationsHoldCommaSeparatedLists() throws {
    let names = try CDIName.fromAnnotations([
      "cdi.k8s.io/b": "example.com/net=x", "cdi.k8s.io/a": "example.com/dev=a,example.com/dev=b", "other/x": "not-a-name",
    ])
    #expect(names.map(\.description) == ["example.com/dev=a", "example.com/dev=b", "example.com/net=x"])
    let e = #expect(throws: CDIError.self) { try CDIName.fromAnnotations(["cdi.k8s.io/x": "example.com/dev=a,bad"]) }
    #expect(e?.message.contains("cdi.k8s.io/x") == true && e?.message.contains("\"bad\"") == true)
  }
}

@Suite struct CDISpecTests {
  static func spec(_ version: String, kind: String = "example.com/dev", extra: String = "", device: String = #"{"name": "a", "containerEdits": {"env": ["A=1"]}}"#) -> String {
    #"{"cdiVersion": "\#(version)", "kind": "\#(kind)", \#(extra) "devices": [\#(device)]}"#
  }

  func parse(_ text: String, yaml: Bool = false) throws -> CDISpec { try CDIRegistry.parse(Array(text.utf8), yaml: yaml) }

  @Test(arguments: CDISpec.versions) func readsEveryVersion(_ v: String) throws {
    #expect(try parse(Self.spec(v)).version == v)
  }

  @Test func refusesUnknownAndTooNewVersions() {
    for (v, word) in [("1.0.0", "newer"), ("0.2.0", "not a known"), ("9", "not a known")] {
      let e = #expect(throws: CDIError.self) { try parse(Self.spec(v)) }
      #expect(e?.message.contains(word) == true, "\(v): \(e?.message ?? "")")
    }
  }

  @Test func featureNeedsItsVersion() throws {
    let gids = #"{"name": "a", "containerEdits": {"additionalGids": [44]}}"#
    let e = #expect(throws: CDIError.self) { try parse(Self.spec("0.6.0", device: gids)) }
    #expect(e?.message.contains("additionalGids needs cdiVersion 0.7.0") == true)
    #expect(try parse(Self.spec("0.7.0", device: gids)).devices[0].edits.additionalGIDs == [44])
    let host = #"{"name": "a", "containerEdits": {"deviceNodes": [{"path": "/dev/x", "hostPath": "/dev/null"}]}}"#
    #expect(throws: CDIError.self) { try parse(Self.spec("0.4.0", device: host)) }
    #expect(try parse(Self.spec("0.5.0", device: host)).devices[0].edits.deviceNodes[0].hostPath == "/dev/null")
    let mountType = #"{"name": "a", "containerEdits": {"mounts": [{"hostPath": "/a", "containerPath": "/b", "type": "bind"}]}}"#
    #expect(throws: CDIError.self) { try parse(Self.spec("0.3.0", device: mountType)) }
    #expect(throws: CDIError.self) { try parse(Self.spec("0.5.0", kind: "example.com/dev.x")) }
    #expect(throws: CDIError.self) { try parse(Self.spec("0.8.0", device: #"{"name": "a", "containerEdits": {"netDevices": [{"hostInterfaceName": "e", "name": "f"}]}}"#)) }
  }

  @Test func refusesBadContent() {
    let cases: [(String, String)] = [
      (Self.spec("0.5.0", kind: "example.com"), "VENDOR/CLASS"),
      (Self.spec("0.5.0", kind: "-x/dev"), "vendor"),
      (Self.spec("0.5.0", device: #"{"name": "a"}"#), "no containerEdits"),
      (Self.spec("0.5.0", device: #"{"name": "a!", "containerEdits": {"env": ["A=1"]}}"#), "device name"),
      (Self.spec("0.5.0", device: #"{"name": "a", "containerEdits": {"env": ["=1"]}}"#), "not NAME=VALUE"),
      (Self.spec("0.5.0", device: #"{"name": "a", "containerEdits": {"deviceNodes": [{"path": "/dev/x", "type": "z"}]}}"#), "invalid type"),
      (Self.spec("0.5.0", device: #"{"name": "a", "containerEdits": {"deviceNodes": [{"path": "/dev/x", "permissions": "rwx"}]}}"#), "permissions"),
      (Self.spec("0.5.0", device: #"{"name": "a", "containerEdits": {"hooks": [{"hookName": "later", "path": "/x"}]}}"#), "hook name"),
      (Self.spec("0.5.0", device: #"{"name": "a", "containerEdits": {"mounts": [{"hostPath": "/x"}]}}"#), "containerPath"),
      (#"{"cdiVersion": "0.5.0", "kind": "example.com/dev", "devices": []}"#, "no devices"),
      (Self.spec("0.5.0", device: #"{"name": "a", "containerEdits": {"env": ["A=1"]}}, {"name": "a", "containerEdits": {"env": ["A=1"]}}"#), "twice"),
      ("{", "not valid JSON"),
    ]
    for (text, word) in cases {
      let e = #expect(throws: CDIError.self) { try parse(text) }
      #expect(e?.message.contains(word) == true, "\(text): \(e?.message ?? "no error")")
    }
  }

  @Test func yamlAndJSONGiveTheSameSpec() throws {
    let yaml = """
      cdiVersion: 0.6.0
      kind: example.com/dev
      containerEdits:
        env: [SPEC=1]
      devices:
        - name: a
          containerEdits:
            deviceNodes:
              - path: /dev/x
                hostPath: /dev/null
                type: c
                major: 1
                minor: 3
                fileMode: 438
                uid: 1000
                permissions: rw
            mounts:
              - hostPath: /opt/lib
                containerPath: /usr/lib/x
                options: [ro, nosuid, nodev, bind]
            hooks:
              - hookName: createContainer
                path: /usr/bin/hook
                args: [hook, create]
                timeout: 5
      """
    let json = """
      {"cdiVersion": "0.6.0", "kind": "example.com/dev", "containerEdits": {"env": ["SPEC=1"]},
       "devices": [{"name": "a", "containerEdits": {
         "deviceNodes": [{"path": "/dev/x", "hostPath": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 1000, "permissions": "rw"}],
         "mounts": [{"hostPath": "/opt/lib", "containerPath": "/usr/lib/x", "options": ["ro", "nosuid", "nodev", "bind"]}],
         "hooks": [{"hookName": "createContainer", "path": "/usr/bin/hook", "args": ["hook", "create"], "timeout": 5}]}}]}
      """
    let a = try parse(yaml, yaml: true), b = try parse(json)
    #expect(a == b)
    let n = a.devices[0].edits.deviceNodes[0]
    #expect(n.major == 1 && n.minor == 3 && n.fileMode == 0o666 && n.uid == 1000 && n.gid == nil && n.permissions == "rw")
    #expect(a.devices[0].edits.hooks[0].timeout == 5)
    #expect(throws: CDIError.self) { try parse("cdiVersion: [", yaml: true) }
  }

  @Test func yamlScalarsAreTypedAsYAML11Would() throws {
    let node = """
      cdiVersion: "0.5.0"
      kind: example.com/dev
      devices:
        - name: &n a
          containerEdits:
            deviceNodes:
              - {path: /dev/x, type: c, major: 0x10, minor: 0o7, fileMode: 0660, uid: +5, gid: 12}
            env: ["Q=1", 'S=2']
        - name: b
          containerEdits:
            env: [B=~]
            deviceNodes: [{path: /dev/y, type: c, major: 1, minor: 3, fileMode: '0660'}]
      """
    let e = #expect(throws: CDIError.self) { try parse(node, yaml: true) }
    #expect(e?.message.contains("fileMode is not an integer") == true, "\(e?.message ?? "")")  // a quoted scalar is a string
    let spec = try parse(node.replacingOccurrences(of: "fileMode: '0660'", with: "fileMode: 438"), yaml: true)
    let n = spec.devices[0].edits.deviceNodes[0]
    #expect(n.major == 16 && n.minor == 7 && n.fileMode == 0o660 && n.uid == 5 && n.gid == 12)
    #expect(spec.devices[1].edits.env == ["B=~"])
    #expect(spec.version == "0.5.0")
    #expect(throws: CDIError.self) { try parse("cdiVersion: 0.5.0\nkind: example.com/dev\ndevices: [{name: *undefined}]\n", yaml: true) }
  }
}

@Suite struct CDIRegistryTests {
  static func dir(_ files: [String: String]) throws -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("cdi-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    for (name, text) in files { try text.write(toFile: "\(d)/\(name)", atomically: true, encoding: .utf8) }
    return d
  }

  static func spec(_ kind: String, _ devices: [(String, String)], specEnv: String? = nil) -> String {
    let devs = devices.map { #"{"name": "\#($0.0)", "containerEdits": {"env": ["\#($0.1)"]}}"# }.joined(separator: ",")
    let edits = specEnv.map { #""containerEdits": {"env": ["\#($0)"]},"# } ?? ""
    return #"{"cdiVersion": "0.5.0", "kind": "\#(kind)", \#(edits) "devices": [\#(devs)]}"#
  }

  @Test func laterDirectoryWinsAndSameDirectoryConflicts() throws {
    let etc = try Self.dir([
      "a.json": Self.spec("example.com/dev", [("x", "FROM=etc"), ("y", "FROM=etc-a")]),
      "b.yaml": "cdiVersion: 0.5.0\nkind: example.com/dev\ndevices:\n- name: y\n  containerEdits:\n    env: [FROM=etc-b]\n",
      "ignored.txt": "not a spec",
    ])
    let run = try Self.dir(["x.json": Self.spec("example.com/dev", [("x", "FROM=run")])])
    defer { for d in [etc, run] { try? FileManager.default.removeItem(atPath: d) } }
    let r = CDIRegistry(directories: [etc, "/nonexistent-cdi-dir", run])
    #expect(try r.resolve([CDIName(parsing: "example.com/dev=x")])[0].edits.env == ["FROM=run"])
    // y is defined by two files of the same directory: neither is used, both files are named.
    let e = #expect(throws: CDIError.self) { try r.resolve([CDIName(parsing: "example.com/dev=y")]) }
    #expect(e?.message == "unresolvable CDI devices example.com/dev=y")
    #expect(r.problems.map(\.path).sorted() == ["\(etc)/a.json", "\(etc)/b.yaml"])
    #expect(r.problems[0].message.contains("conflicting device example.com/dev=y"))
    // Reversed order: /etc's x wins.
    #expect(try CDIRegistry(directories: [run, etc]).resolve([CDIName(parsing: "example.com/dev=x")])[0].edits.env == ["FROM=etc"])
  }

  @Test func brokenSpecIsSkippedAndNamed() throws {
    let d = try Self.dir([
      "bad.json": #"{"cdiVersion": "0.5.0", "kind": "example.com/dev""#,
      "new.json": Self.spec("example.com/dev", [("n", "A=1")]).replacingOccurrences(of: "0.5.0", with: "1.1.0"),
      "good.json": Self.spec("example.com/good", [("g", "A=1")]),
    ])
    defer { try? FileManager.default.removeItem(atPath: d) }
    let r = CDIRegistry(directories: [d])
    #expect(r.deviceNames.map(\.description) == ["example.com/good=g"])
    #expect(r.problems.count == 2)
    #expect(r.problems.contains { $0.path == "\(d)/bad.json" && $0.message.contains("not valid JSON") })
    #expect(r.problems.contains { $0.path == "\(d)/new.json" && $0.message.contains("newer") })
  }

  @Test func specEditsComeOncePerSpecBeforeTheDevices() throws {
    let d = try Self.dir(["a.json": Self.spec("example.com/dev", [("x", "X=1"), ("y", "Y=1")], specEnv: "SPEC=1")])
    defer { try? FileManager.default.removeItem(atPath: d) }
    let r = CDIRegistry(directories: [d])
    let res = try r.resolve([CDIName(parsing: "example.com/dev=y"), CDIName(parsing: "example.com/dev=x")])
    #expect(res.map(\.edits.env) == [["SPEC=1", "Y=1"], ["X=1"]])
    let e = #expect(throws: CDIError.self) {
      try r.resolve([CDIName(parsing: "example.com/dev=x"), CDIName(parsing: "example.com/dev=nope"), CDIName(parsing: "other.com/c=z")])
    }
    #expect(e?.message == "unresolvable CDI devices example.com/dev=nope, other.com/c=z")
  }

  /// What reading the spec directories at each CreateContainer costs: 5 specs (3 JSON, 2 YAML) of 4
  /// devices each, 200 reads.
  @Test func readCost() throws {
    var files: [String: String] = [:]
    for i in 0..<3 { files["j\(i).json"] = Self.spec("example.com/j\(i)", (0..<4).map { ("d\($0)", "A\($0)=1") }) }
    for i in 0..<2 {
      files["y\(i).yaml"] = "cdiVersion: 0.5.0\nkind: example.com/y\(i)\ndevices:\n"
        + (0..<4).map { "- name: d\($0)\n  containerEdits:\n    env: [A\($0)=1]\n    deviceNodes: [{path: /dev/null}]\n" }.joined()
    }
    let d = try Self.dir(files)
    defer { try? FileManager.default.removeItem(atPath: d) }
    let clock = ContinuousClock()
    let n = 200
    let t = clock.measure { for _ in 0..<n { _ = CDIRegistry(directories: [d]) } }
    #expect(CDIRegistry(directories: [d]).deviceNames.count == 20)
    let cache = CDISpecCache()
    let cached = clock.measure { for _ in 0..<n { _ = CDIRegistry(directories: [d], cache: cache) } }
    #expect(cache.parses == 5)
    print("CDI registry read: 5 specs, 20 devices: \(t / n) per read, \(cached / n) with the cache")
  }

  @Test func theCacheParsesAFileAgainOnlyWhenItChanges() throws {
    let d = try Self.dir(["a.json": Self.spec("example.com/dev", [("x", "V=1")]), "b.json": Self.spec("example.com/other", [("y", "V=1")])])
    defer { try? FileManager.default.removeItem(atPath: d) }
    let cache = CDISpecCache()
    let x = try CDIName(parsing: "example.com/dev=x")
    #expect(try CDIRegistry(directories: [d], cache: cache).resolve([x])[0].edits.env == ["V=1"])
    #expect(try CDIRegistry(directories: [d], cache: cache).resolve([x])[0].edits.env == ["V=1"])
    #expect(cache.parses == 2)
    // Rewritten (same size, another inode by the atomic write): parsed again, the new content used.
    try Self.spec("example.com/dev", [("x", "V=2")]).write(toFile: "\(d)/a.json", atomically: true, encoding: .utf8)
    #expect(try CDIRegistry(directories: [d], cache: cache).resolve([x])[0].edits.env == ["V=2"])
    #expect(cache.parses == 3)
    // Broken in place (not atomically): the problem is reported; removed: gone.
    try "{".write(toFile: "\(d)/a.json", atomically: false, encoding: .utf8)
    let broken = CDIRegistry(directories: [d], cache: cache)
    #expect(broken.problems.map(\.path) == ["\(d)/a.json"] && broken.deviceNames.map(\.description) == ["example.com/other=y"])
    try FileManager.default.removeItem(atPath: "\(d)/a.json")
    #expect(CDIRegistry(directories: [d], cache: cache).problems.isEmpty)
    #expect(cache.parses == 4)
  }
}
