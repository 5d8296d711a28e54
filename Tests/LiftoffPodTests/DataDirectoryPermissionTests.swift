import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

/// The data directory is root's alone: after a pull and with a pod running, an unprivileged host user
/// can open none of the pod's manifest (its apps' environment), the unpacked layers (setuid binaries,
/// device nodes: containerd's CVE-2021-41103) or the blobs; an install that left looser modes is
/// tightened by the next command.
@Suite(.needsRoot, .needsRegistry)
struct DataDirectoryPermissionTests {
  static func mode(_ path: String) -> mode_t {
    var st = stat()
    return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0o7777
  }

  /// Runs `sh -c SCRIPT` as nobody (65534, no groups); its output.
  static func asNobody(_ script: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
    p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c", script]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
  }

  @Test func anUnprivilegedUserCannotReadTheStoreOrThePods() throws {
    let f = try PodFixture("perm")
    defer { f.tearDown() }
    // The fixture's base is the host user's to traverse, as /var/lib is.
    chmod(f.base, 0o755)
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    // A pod command first, as on a node where liftoff-cri made the directory before any pull.
    let sb = try f.liftoff(["app", "sandbox"])
    #expect(sb.status == 0, "\(sb.stderr)")
    let fetch = try f.liftoff(["fetch", "--no-progress", "docker://\(image)"])
    #expect(fetch.status == 0, "\(fetch.stderr)")
    let id = sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    let add = try f.liftoff(["app", "add", id, "docker://\(image)", "--name", "app", "--set-env", "SECRET=hunter2", "--exec", "/bin/sleep", "--", "1000"])
    #expect(add.status == 0, "\(add.stderr)")
    #expect(try f.liftoff(["app", "start", "--app", "app", id]).status == 0)

    let data = f.dataDir
    let podJSON = "\(data)/pods/run/\(id)/pod.json"
    #expect(((try? String(contentsOfFile: podJSON, encoding: .utf8)) ?? "").contains("hunter2"))
    let layers = try FileManager.default.contentsOfDirectory(atPath: "\(data)/images/layers")
    let layer = try #require(layers.first { FileManager.default.fileExists(atPath: "\(data)/images/layers/\($0)/bin/busybox") })
    let layerFile = "\(data)/images/layers/\(layer)/bin/busybox"
    let blob = try #require(try FileManager.default.contentsOfDirectory(atPath: "\(data)/images/blobs/sha256").first)
    let blobFile = "\(data)/images/blobs/sha256/\(blob)"
    let targets = [podJSON, layerFile, blobFile, "\(data)/pods/run/\(id)/apps/app/state.json", "\(data)/images/refs"]
    let out = try Self.asNobody(
      targets.map { "if cat \($0) >/dev/null 2>&1 || ls \($0) >/dev/null 2>&1; then echo \"opened \($0)\"; fi" }.joined(separator: "; ")
        + "; cat \(podJSON) 2>&1 | head -1")
    #expect(!out.contains("opened"), "\(out)")
    #expect(out.contains("Permission denied"), "\(out)")
    // The modes: the data directory, the store and the pods' directories 0700, manifests 0600.
    for dir in [data, "\(data)/pods", "\(data)/pods/run", "\(data)/pods/run/\(id)", "\(data)/images", "\(data)/images/layers", "\(data)/images/blobs", "\(data)/images/tmp"] {
      #expect(Self.mode(dir) == 0o700, "\(dir): \(String(Self.mode(dir), radix: 8))")
    }
    for file in [podJSON, "\(data)/pods/run/\(id)/apps/app/state.json", blobFile] {
      #expect(Self.mode(file) == 0o600, "\(file): \(String(Self.mode(file), radix: 8))")
    }

    // An install made before: its looser top directories are tightened by the next command.
    for (dir, m) in [(data, 0o711), ("\(data)/pods", 0o755), ("\(data)/pods/run", 0o711), ("\(data)/images", 0o755), ("\(data)/images/layers", 0o755)] {
      chmod(dir, mode_t(m))
    }
    #expect(try Self.asNobody("cat \(layerFile) >/dev/null && echo opened").contains("opened"), "the old modes let anyone in")
    #expect(try f.liftoff(["list"]).status == 0)
    #expect(try f.liftoff(["image", "list"]).status == 0)
    for dir in [data, "\(data)/pods", "\(data)/pods/run", "\(data)/images", "\(data)/images/layers"] {
      #expect(Self.mode(dir) == 0o700, "\(dir): \(String(Self.mode(dir), radix: 8))")
    }
    #expect(!(try Self.asNobody("cat \(layerFile) >/dev/null && echo opened").contains("opened")))
    #expect(try f.liftoff(["stop", id]).status == 0)
    #expect(try f.liftoff(["rm", id]).status == 0)
  }

  /// A user-namespaced pod runs from the private store: its apps (a non-root user inside too) read
  /// the image through the idmapped layers, write their upper layer and are entered, although no
  /// mapped ID may traverse the data directory.
  @Test func userNamespacePodsRunFromThePrivateStore() throws {
    let f = try PodFixture("permuserns")
    defer { f.tearDown() }
    chmod(f.base, 0o755)
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let fetch = try f.liftoff(["fetch", "--no-progress", "docker://\(image)"])
    #expect(fetch.status == 0, "\(fetch.stderr)")
    let h = UInt32(Int.random(in: 40...4000)) * 65536
    let sb = try f.liftoff(["app", "sandbox", "--userns-uid-map", "0:\(h):65536", "--userns-gid-map", "0:\(h):65536"])
    #expect(sb.status == 0, "\(sb.stderr)")
    let id = sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(Self.mode(f.dataDir) == 0o700 && Self.mode("\(f.dataDir)/images/layers") == 0o700)
    var logs: [String: String] = [:]
    for (name, user) in [("root", "0"), ("user", "1000")] {
      let log = f.base + "/\(name).log"
      logs[name] = log
      let add = try f.liftoff([
        "app", "add", id, "docker://\(image)", "--name", name, "--user", user, "--group", user, "--log-path", log, "--exec", "/bin/sh", "--", "-c",
        "id -u; head -c 4 /bin/busybox >/dev/null && echo read=ok; echo x > /tmp/w && echo write=ok; cd / && ls >/dev/null && echo done; exec sleep 1000",
      ])
      #expect(add.status == 0, "\(add.stderr)")
      let start = try f.liftoff(["app", "start", "--app", name, id])
      #expect(start.status == 0, "\(start.stderr)")
    }
    for (name, log) in logs {
      try waitFor("app \(name)") { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("done") }
      let out = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
      #expect(out.contains("read=ok") && out.contains("write=ok"), "\(name): \(out)")
    }
    let enter = try f.liftoff(["enter", "--app", "user", id, "/bin/sh", "-c", "id -u; cat /tmp/w"])
    #expect(enter.status == 0 && enter.stdout == "1000\nx\n", "\(enter)")
    // On the host the app is the mapped ID, which cannot enter the data directory.
    let pid = try #require(try f.statusJSON(id).apps.first { $0.name == "user" }?.pid)
    #expect(((try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? "").contains("\nUid:\t\(h + 1000)\t"))
    #expect(try f.liftoff(["stop", id]).status == 0)
    #expect(try f.liftoff(["rm", id]).status == 0)
  }
}
