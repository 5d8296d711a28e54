// The CNI runtime driven with small script plugins of the tests' own (real processes, real files):
// what plugins are handed, error pass-through, rollback, timeouts, STATUS, GC, NetworkReady.
import Foundation
import LiftoffCore
import Testing

@testable import LiftoffNet

@Suite struct CNIManagerTests {
  /// A conf dir, a bin dir and a cache dir of the test's own.
  struct Env {
    let root: String
    var conf: String { root + "/conf" }
    var bin: String { root + "/bin" }
    var cache: String { root + "/cache" }
    var log: String { root + "/log" }

    init(_ tag: String) throws {
      root = try TestSupport.tempDir(tag)
      for d in [conf, bin, cache, log] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
    }

    func manager(timeout: Double = 20, defaultNetwork: DefaultNetwork? = nil, binDirs: [String]? = nil) -> CNIManager {
      CNIManager(
        settings: CNISettings(
          confDir: conf, binDirs: binDirs ?? [bin], cacheDir: cache, pluginTimeout: timeout,
          defaultNetwork: defaultNetwork))
    }

    /// A plugin that records each call (command, env, stdin) in `log` and answers ADD with `result`.
    func recordingPlugin(_ name: String, result: String) throws {
      try TestSupport.writePlugin(
        bin, name,
        """
        f=\(log)/$(date +%s%N)-\(name)-$CNI_COMMAND
        cat > "$f.stdin"
        printf '%s\\n' "CNI_COMMAND=$CNI_COMMAND" "CNI_CONTAINERID=$CNI_CONTAINERID" "CNI_NETNS=$CNI_NETNS" \\
          "CNI_IFNAME=$CNI_IFNAME" "CNI_ARGS=$CNI_ARGS" "CNI_PATH=$CNI_PATH" > "$f.env"
        if [ "$CNI_COMMAND" = ADD ]; then echo '\(result)'; fi
        exit 0

        """)
    }

    /// Calls recorded so far, in order: (plugin, command, env, stdin JSON).
    func calls() throws -> [(plugin: String, command: String, env: [String: String], stdin: JSON, raw: String)] {
      let names = try FileManager.default.contentsOfDirectory(atPath: log).filter { $0.hasSuffix(".env") }.sorted()
      return try names.map { name in
        let base = log + "/" + String(name.dropLast(4))
        let parts = name.dropLast(4).split(separator: "-")
        var env: [String: String] = [:]
        for line in TestSupport.read(base + ".env").split(separator: "\n") {
          let kv = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
          env[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
        }
        let raw = TestSupport.read(base + ".stdin")
        let stdin = try JSON.parse(Data(raw.utf8), what: base)
        return (parts[1...].dropLast().joined(separator: "-"), String(parts.last!), env, stdin, raw)
      }
    }

    func cacheFiles() -> [String] {
      (FileManager.default.enumerator(atPath: cache)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".json") }
    }
  }

  static let resultA =
    #"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"fd00::3/64","interface":0},{"address":"10.1.2.3/24","interface":0}]}"#

  /// Found by hack/stress.py faults: `liftoff` SIGKILLed between the namespace's unmount and its unlink
  /// left a plain file at the netns path; DEL handed it on, every plugin failed ("unknown FS magic") and
  /// StopPodSandbox failed for good. A path that is no namespace is passed as empty, as a gone one is.
  @Test func delPassesAPathThatIsNoNamespaceAsEmpty() throws {
    let env = try Env("delplain")
    defer { TestSupport.remove(env.root) }
    try env.recordingPlugin("first", result: Self.resultA)
    try TestSupport.write(#"{"cniVersion":"1.0.0","name":"plain","plugins":[{"type":"first"}]}"#, to: env.conf + "/10-plain.conflist")
    let netns = env.root + "/netns-file"
    try TestSupport.write("", to: netns)
    _ = try env.manager().setUp(PodNetworkRequest(containerID: "pod1", netnsPath: netns))
    try env.manager().tearDown(PodNetworkRequest(containerID: "pod1", netnsPath: netns))
    let calls = try env.calls()
    #expect(calls.map { "\($0.plugin) \($0.command)" } == ["first ADD", "first DEL"])
    #expect(calls[0].env["CNI_NETNS"] == netns)
    #expect(calls[1].env["CNI_NETNS"] == "")
  }

  /// A plugin gets its configuration with the file's key order (Liftoff's keys appended) and its
  /// integers exact, on ADD and again on DEL (which reads the configuration back from the cache).
  @Test func pluginsGetTheFilesKeyOrderAndExactIntegers() throws {
    let env = try Env("order")
    defer { TestSupport.remove(env.root) }
    try env.recordingPlugin("first", result: Self.resultA)
    try env.recordingPlugin("second", result: Self.resultA)
    try TestSupport.write(
      #"{"plugins":[{"zeta":true,"type":"first","big":18446744073709551615,"alpha":{"z":-9223372036854775808,"a":1.5}},"#
        + #"{"type":"second","mtu":1500}],"name":"ordnet","cniVersion":"1.0.0"}"#,
      to: env.conf + "/10-order.conflist")
    let netns = env.root + "/netns-file"
    try TestSupport.write("", to: netns)
    try env.manager().setUp(PodNetworkRequest(containerID: "pod1", netnsPath: netns))
    try env.manager().tearDown(PodNetworkRequest(containerID: "pod1", netnsPath: netns))
    let calls = try env.calls()
    #expect(calls.map { "\($0.plugin) \($0.command)" } == ["first ADD", "second ADD", "second DEL", "first DEL"])
    let first =
      #"{"zeta":true,"type":"first","big":18446744073709551615,"alpha":{"z":-9223372036854775808,"a":1.5},"name":"ordnet","cniVersion":"1.0.0""#
    #expect(calls[0].raw == first + "}")
    #expect(calls[1].raw == #"{"type":"second","mtu":1500,"name":"ordnet","cniVersion":"1.0.0","prevResult":"# + Self.resultA + "}")
    #expect(calls[2].raw == #"{"type":"second","mtu":1500,"name":"ordnet","cniVersion":"1.0.0","prevResult":"# + Self.resultA + "}")
    #expect(calls[3].raw == first + #","prevResult":"# + Self.resultA + "}")
    #expect(calls[0].stdin["big"] == .uint(18_446_744_073_709_551_615))
  }

  /// A configuration with a key twice is refused (the CNI spec leaves it undefined which one wins),
  /// with an error naming the file and the key; the network is then not ready.
  @Test func aConfigWithADuplicateKeyIsRefusedNamingTheFile() throws {
    let env = try Env("dupkey")
    defer { TestSupport.remove(env.root) }
    try env.recordingPlugin("first", result: Self.resultA)
    let path = env.conf + "/10-dup.conflist"
    try TestSupport.write(#"{"cniVersion":"1.0.0","name":"dup","plugins":[{"type":"first","mtu":1500,"mtu":9000}]}"#, to: path)
    let error = try #require(throws: LiftoffError.self) { try CNIConfigLoader.load(file: path) }
    #expect(error.message.hasPrefix("cni config \(path): "), "\(error)")
    #expect(error.message.contains("duplicate key \"mtu\""), "\(error)")
    let status = env.manager().networkStatus()
    #expect(!status.ready)
    #expect(status.reason == "InvalidNetworkConfig")
    #expect(status.message.contains(path) && status.message.contains("duplicate key"), "\(status.message)")
    #expect(try env.calls().isEmpty)
  }

  @Test func addAndDelHandPluginsWhatTheSpecSays() throws {
    let env = try Env("adddel")
    defer { TestSupport.remove(env.root) }
    try env.recordingPlugin("first", result: Self.resultA)
    try env.recordingPlugin("second", result: Self.resultA.replacingOccurrences(of: "10.1.2.3", with: "10.1.2.4"))
    try TestSupport.write(
      #"{"cniVersion":"1.0.0","name":"recnet","plugins":[{"type":"first","capabilities":{"portMappings":true,"dns":true}},{"type":"second","capabilities":{"bandwidth":true}}]}"#,
      to: env.conf + "/10-rec.conflist")
    let netns = env.root + "/netns-file"
    try TestSupport.write("", to: netns)
    let request = PodNetworkRequest(
      containerID: "pod1", netnsPath: netns, podNamespace: "default", podName: "web", podUID: "uid-1",
      portMappings: [.init(hostPort: 8080, containerPort: 80, proto: "tcp", hostIP: "127.0.0.1")],
      dns: DNSConfig(servers: ["10.96.0.10"], searches: ["svc"], options: ["ndots:5"]))
    let pod = try env.manager().setUp(request)
    #expect(pod.networkName == "recnet")
    #expect(pod.ips == ["10.1.2.4", "fd00::3"])
    #expect(try env.manager().podNetwork(containerID: "pod1")?.ips == ["10.1.2.4", "fd00::3"])

    // A second ADD of the same pod is refused without running any plugin (its failure would
    // otherwise roll back the first attachment).
    let twice = try #require(throws: LiftoffError.self) { try env.manager().setUp(request) }
    #expect(twice.code == .alreadyExists)
    #expect(try env.manager().podNetwork(containerID: "pod1") != nil)

    var calls = try env.calls()
    #expect(calls.map { "\($0.plugin) \($0.command)" } == ["first ADD", "second ADD"])
    let e = calls[0].env
    #expect(e["CNI_CONTAINERID"] == "pod1")
    #expect(e["CNI_NETNS"] == netns)
    #expect(e["CNI_IFNAME"] == "eth0")
    #expect(e["CNI_PATH"] == env.bin)
    #expect(
      e["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=pod1;K8S_POD_UID=uid-1")
    #expect(calls[0].stdin["name"] == "recnet")
    #expect(calls[0].stdin["prevResult"] == nil)
    #expect(calls[0].stdin["runtimeConfig"]?["portMappings"] != nil)
    #expect(calls[0].stdin["runtimeConfig"]?["dns"] == ["servers": ["10.96.0.10"], "searches": ["svc"], "options": ["ndots:5"]])
    #expect(calls[1].stdin["prevResult"] == (try JSON.parse(Data(Self.resultA.utf8), what: "a")))
    #expect(calls[1].stdin["runtimeConfig"] == nil)  // bandwidth declared, none asked for

    // A restart (new manager), a changed config file, and a vanished netns: DEL still runs the
    // configuration ADD ran, with its result as prevResult, in reverse order, with an empty CNI_NETNS.
    try FileManager.default.removeItem(atPath: env.conf + "/10-rec.conflist")
    try FileManager.default.removeItem(atPath: netns)
    try env.manager().tearDown(PodNetworkRequest(containerID: "pod1", netnsPath: netns))
    calls = try env.calls()
    #expect(calls.map { "\($0.plugin) \($0.command)" } == ["first ADD", "second ADD", "second DEL", "first DEL"])
    #expect(calls[2].stdin["prevResult"]?["ips"]?.arrayValue?.count == 2)
    #expect(calls[2].stdin["prevResult"]?["ips"]?[safe: 1]?["address"] == "10.1.2.4/24")
    #expect(calls[3].env["CNI_NETNS"] == "")
    #expect(calls[3].env["CNI_ARGS"]?.contains("K8S_POD_NAME=web") == true)
    #expect(calls[3].stdin["runtimeConfig"]?["portMappings"] != nil)
    #expect(env.cacheFiles().isEmpty)
    #expect(try env.manager().podNetwork(containerID: "pod1") == nil)
  }

  @Test func failingPluginErrorIsVerbatimAndAddIsRolledBack() throws {
    let env = try Env("fail")
    defer { TestSupport.remove(env.root) }
    try env.recordingPlugin("first", result: Self.resultA)
    try TestSupport.writePlugin(
      env.bin, "failer",
      """
      cat >/dev/null
      case "$CNI_COMMAND" in
      ADD) echo '{"cniVersion":"1.0.0","code":107,"msg":"address pool exhausted","details":"no free lease in 10.7.0.0/30"}'; exit 1;;
      esac
      echo DEL >> \(env.log)/failer-del
      exit 0

      """)
    try TestSupport.write(
      #"{"cniVersion":"1.0.0","name":"failnet","plugins":[{"type":"first"},{"type":"failer"}]}"#,
      to: env.conf + "/10.conflist")
    let error = try #require(throws: LiftoffError.self) {
      try env.manager().setUp(PodNetworkRequest(containerID: "pod2", netnsPath: "/run/netns/none"))
    }
    #expect(error.message.contains("address pool exhausted: no free lease in 10.7.0.0/30 (cni error code 107)"), "\(error)")
    #expect(error.message.contains("failer"))
    let cause = try #require(error.cause as? CNIPluginError)
    #expect(cause.code == 107)
    #expect(cause.msg == "address pool exhausted")
    #expect(cause.details == "no free lease in 10.7.0.0/30")
    #expect(try env.calls().map { "\($0.plugin) \($0.command)" } == ["first ADD", "first DEL"])
    #expect(TestSupport.read(env.log + "/failer-del") == "DEL\n")
    #expect(env.cacheFiles().isEmpty)
  }

  @Test func pluginWithoutErrorJSONReportsItsOutput() throws {
    let env = try Env("crash")
    defer { TestSupport.remove(env.root) }
    try TestSupport.writePlugin(env.bin, "crasher", "cat >/dev/null\n[ \"$CNI_COMMAND\" = DEL ] && exit 0\necho 'panic: boom at line 3' >&2\nexit 3\n")
    try TestSupport.write(#"{"cniVersion":"1.0.0","name":"c","type":"crasher"}"#, to: env.conf + "/c.conf")
    let error = try #require(throws: LiftoffError.self) {
      try env.manager().setUp(PodNetworkRequest(containerID: "pod3", netnsPath: "/run/netns/none"))
    }
    #expect(error.message.contains("panic: boom at line 3 (exit status 3)"), "\(error)")
    #expect(env.cacheFiles().isEmpty)
  }

  @Test func unrunnablePluginIsNamedInTheError() throws {
    let env = try Env("noexec")
    defer { TestSupport.remove(env.root) }
    try TestSupport.write("not a program\n", to: env.bin + "/garbage")
    chmod(env.bin + "/garbage", 0o755)
    try TestSupport.write(#"{"cniVersion":"1.0.0","name":"x","type":"garbage"}"#, to: env.conf + "/x.conf")
    let error = try #require(throws: LiftoffError.self) {
      try env.manager().setUp(PodNetworkRequest(containerID: "pod5", netnsPath: "/run/netns/none"))
    }
    #expect(error.message.contains("cni plugin garbage ADD on network \"x\" for container pod5: cannot run \(env.bin)/garbage"), "\(error)")
    // DEL cannot run either, so the record stays for `gc` to retry, and the error says so.
    #expect(error.message.contains("rolling back with DEL also failed (liftoff gc retries it)"), "\(error)")
    #expect(env.cacheFiles() == ["results/x/pod5-eth0.json"])
  }

  @Test func hungPluginIsKilledAtTheDeadline() throws {
    let env = try Env("hang")
    defer { TestSupport.remove(env.root) }
    try TestSupport.writePlugin(env.bin, "hanger", "cat >/dev/null\n[ \"$CNI_COMMAND\" = ADD ] && exec sleep 60\nexit 0\n")
    try TestSupport.write(#"{"cniVersion":"1.0.0","name":"h","plugins":[{"type":"hanger"}]}"#, to: env.conf + "/h.conflist")
    let error = try #require(throws: LiftoffError.self) {
      try env.manager(timeout: 0.5).setUp(PodNetworkRequest(containerID: "pod4", netnsPath: "/run/netns/none"))
    }
    #expect(error.code == .deadlineExceeded)
    #expect(error.message.contains("did not finish within 0.5s"), "\(error)")
    #expect(env.cacheFiles().isEmpty)
  }

  @Test func networkReadyFollowsTheConfDirWithTheDefaultNetworkOff() throws {
    let env = try Env("ready")
    defer { TestSupport.remove(env.root) }
    let m = env.manager()
    var s = m.networkStatus()
    #expect(!s.ready)
    #expect(s.reason == "NoNetworkConfig")
    #expect(s.message.contains(env.conf))

    try TestSupport.writePlugin(env.bin, "okplugin", "exit 0\n")
    try TestSupport.writePlugin(env.bin, "okipam", "exit 0\n")
    try TestSupport.write(
      #"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"okplugin","ipam":{"type":"okipam"}}]}"#,
      to: env.conf + "/50-n.conflist")
    #expect(m.networkStatus() == .ok)

    try TestSupport.write("{not json", to: env.conf + "/10-broken.conf")
    s = m.networkStatus()
    #expect(!s.ready)
    #expect(s.reason == "InvalidNetworkConfig")
    #expect(s.message.contains(env.conf + "/10-broken.conf"))
    try FileManager.default.removeItem(atPath: env.conf + "/10-broken.conf")
    #expect(m.networkStatus() == .ok)

    try FileManager.default.moveItem(atPath: env.bin + "/okipam", toPath: env.root + "/okipam")
    s = m.networkStatus()
    #expect(s.reason == "NetworkPluginMissing")
    #expect(s.message.contains("\"okipam\""))
    try FileManager.default.moveItem(atPath: env.root + "/okipam", toPath: env.bin + "/okipam")
    #expect(m.networkStatus() == .ok)

    try FileManager.default.removeItem(atPath: env.conf + "/50-n.conflist")
    #expect(m.networkStatus().reason == "NoNetworkConfig")
  }

  @Test func networkReadyFollowsThePluginsOfTheDefaultNetwork() throws {
    let env = try Env("readydef")
    defer { TestSupport.remove(env.root) }
    for p in DefaultNetwork.requiredPlugins {
      try FileManager.default.createSymbolicLink(atPath: env.bin + "/" + p, withDestinationPath: "/usr/lib/cni/" + p)
    }
    let m = env.manager(defaultNetwork: DefaultNetwork(bridge: "ltrd" + TestSupport.suffix()))
    #expect(m.networkStatus() == .ok)
    try FileManager.default.removeItem(atPath: env.bin + "/portmap")
    let s = m.networkStatus()
    #expect(!s.ready)
    #expect(s.reason == "NetworkPluginMissing")
    #expect(s.message.contains("\"portmap\"") && s.message.contains("embedded default network"))
    try FileManager.default.createSymbolicLink(atPath: env.bin + "/portmap", withDestinationPath: "/usr/lib/cni/portmap")
    #expect(m.networkStatus() == .ok)
  }

  @Test func statusVerbOfCNI11DecidesReadiness() throws {
    let env = try Env("status")
    defer { TestSupport.remove(env.root) }
    let flag = env.root + "/broken"
    try TestSupport.writePlugin(
      env.bin, "stat",
      """
      cat >/dev/null
      if [ "$CNI_COMMAND" = STATUS ] && [ -e \(flag) ]; then
        echo '{"cniVersion":"1.1.0","code":50,"msg":"plugin not available","details":"daemon socket missing"}'; exit 1
      fi
      exit 0

      """)
    try TestSupport.write(#"{"cniVersion":"1.1.0","name":"s","plugins":[{"type":"stat"}]}"#, to: env.conf + "/s.conflist")
    let m = env.manager()
    #expect(m.networkStatus() == .ok)
    try TestSupport.write("", to: flag)
    let s = m.networkStatus()
    #expect(!s.ready)
    #expect(s.reason == "NetworkPluginNotReady")
    #expect(s.message.contains("plugin not available: daemon socket missing (cni error code 50)"), "\(s.message)")
    try FileManager.default.removeItem(atPath: flag)
    #expect(m.networkStatus() == .ok)
  }

  @Test func gcDeletesStaleAttachmentsAndPassesValidOnes() throws {
    let env = try Env("gc")
    defer { TestSupport.remove(env.root) }
    try env.recordingPlugin("rec", result: Self.resultA)
    try TestSupport.write(#"{"cniVersion":"1.1.0","name":"g","plugins":[{"type":"rec"}]}"#, to: env.conf + "/g.conflist")
    let m = env.manager()
    try m.setUp(PodNetworkRequest(containerID: "keep", netnsPath: "/run/netns/none"))
    try m.setUp(PodNetworkRequest(containerID: "stale", netnsPath: "/run/netns/none"))
    // What a crash between the first plugin and the final record leaves: a record without a result.
    try CNIResultCache(root: env.cache).write(
      CNICacheEntry(
        containerID: "crashed", ifName: "eth0", netnsPath: "", cniArgs: "", capabilityArgs: [:],
        config: try #require(try m.currentConfig()).json, result: nil), network: "g")
    let removed = try m.gc(valid: [CNIAttachment(containerID: "keep")])
    #expect(Set(removed.map(\.containerID)) == ["stale", "crashed"])
    let calls = try env.calls()
    #expect(calls.filter { $0.command == "DEL" }.map { $0.env["CNI_CONTAINERID"] ?? "" }.sorted() == ["crashed", "stale"])
    let gc = try #require(calls.first { $0.command == "GC" })
    #expect(gc.stdin["cni.dev/valid-attachments"] == [["containerID": "keep", "ifname": "eth0"]])
    #expect(env.cacheFiles().count == 1)
    #expect(try m.podNetwork(containerID: "keep") != nil)
  }
}

extension JSON {
  fileprivate subscript(safe i: Int) -> JSON? {
    guard let a = arrayValue, a.indices.contains(i) else { return nil }
    return a[i]
  }
}
