import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

/// A private Liftoff data dir and a busybox rootfs (Debian's busybox-static, applet symlinks,
/// /etc/passwd and /etc/group), and a way to run the built `liftoff` binary against them.
/// Every fixture has unique paths, so tests run in parallel with each other and other suites.
final class PodFixture: @unchecked Sendable {
  let base: String
  let dataDir: String
  let rootfs: String

  /// LIFTOFF_BIN_DIR (hack/test.sh sets it; pointing it at another build runs these tests against that
  /// build's binaries), else the directory of the test bundle, which `swift build` shares.
  static let buildDir = TestEnvironment.builtBinaries(containing: "liftoff")

  static var liftoff: String { buildDir + "/liftoff" }

  init(_ tag: String) throws {
    base = "/tmp/liftoff-podtest-\(tag)-\(Random.hex(bytes: 5))"
    dataDir = base + "/data"
    rootfs = base + "/rootfs"
    let fm = FileManager.default
    for d in ["bin", "etc", "tmp", "home/alice"] { try fm.createDirectory(atPath: "\(rootfs)/\(d)", withIntermediateDirectories: true) }
    try fm.copyItem(atPath: "/bin/busybox", toPath: "\(rootfs)/bin/busybox")
    for applet in ["sh", "id", "cat", "ps", "ls", "sleep", "hostname", "grep", "touch", "head", "tr", "wc", "echo", "true", "false", "mount", "readlink", "kill", "stat", "env", "pwd", "dd"] {
      try fm.createSymbolicLink(atPath: "\(rootfs)/bin/\(applet)", withDestinationPath: "busybox")
    }
    try "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\nalice:x:1000:1000:alice:/home/alice:/bin/sh\n"
      .write(toFile: "\(rootfs)/etc/passwd", atomically: true, encoding: .utf8)
    try "root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nstaff:x:50:alice\naudio:x:29:alice\n"
      .write(toFile: "\(rootfs)/etc/group", atomically: true, encoding: .utf8)
  }

  /// gc everything, then remove the fixture; reports what could not be cleaned.
  func tearDown() {
    _ = try? liftoff(["gc", "--grace-period", "0"])
    if let dir = try? Mounts.canonical(base) { _ = try? Mounts.unmountAll(under: dir) }
    try? FileSystem.removeTree(base)
  }

  struct Result {
    var status: Int32
    var stdout: String
    var stderr: String
    /// The signal that ended the process (nil: it exited).
    var signal: Int32? = nil

    /// Did the process die by SIGKILL at `point` (its stderr names the point, so no other kill passes)?
    func killed(at point: FailPoint) -> Bool {
      signal == SIGKILL && stderr.contains("fail-point \(point.rawValue)")
    }

    /// Records an issue (with stderr) unless the command succeeded.
    func check(sourceLocation: SourceLocation = #_sourceLocation) {
      #expect(status == 0, "\(stderr)", sourceLocation: sourceLocation)
    }
  }

  /// Runs `liftoff --dir <data> ARGS…` to completion.
  @discardableResult
  func liftoff(_ args: [String], timeout: Double = 60, environment: [String: String] = [:]) throws -> Result {
    let p = try start(args, environment: environment)
    return try finish(p, timeout: timeout)
  }

  final class Running: @unchecked Sendable {
    let process: Process
    let out: Pipe
    let err: Pipe
    init(_ p: Process, _ o: Pipe, _ e: Pipe) {
      process = p
      out = o
      err = e
    }
  }

  func start(_ args: [String], environment: [String: String] = [:]) throws -> Running {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: Self.liftoff)
    p.arguments = ["--dir", dataDir] + args
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    return Running(p, out, err)
  }

  func finish(_ r: Running, timeout: Double = 60) throws -> Result {
    // Read both pipes fully (the child may write more than a pipe buffer).
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data()
    nonisolated(unsafe) var errData = Data()
    DispatchQueue.global().async(group: group) { outData = r.out.fileHandleForReading.readDataToEndOfFile() }
    DispatchQueue.global().async(group: group) { errData = r.err.fileHandleForReading.readDataToEndOfFile() }
    let deadline = Date().addingTimeInterval(timeout)
    while r.process.isRunning && Date() < deadline { usleep(10_000) }
    if r.process.isRunning {
      kill(r.process.processIdentifier, SIGKILL)
      r.process.waitUntilExit()
      throw LiftoffError(.deadlineExceeded, "liftoff \(r.process.arguments ?? []) timed out")
    }
    r.process.waitUntilExit()
    group.wait()
    return Result(
      status: r.process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
      stderr: String(decoding: errData, as: UTF8.self),
      signal: r.process.terminationReason == .uncaughtSignal ? r.process.terminationStatus : nil)
  }

  /// `liftoff run … ROOTFS --exec /bin/sh -- -c SCRIPT` with pod flags before the image and app
  /// flags after it.
  func runShell(_ script: String, pod: [String] = [], app: [String] = []) throws -> Result {
    try liftoff(["run"] + pod + [rootfs] + app + ["--exec", "/bin/sh", "--", "-c", script])
  }

  func statusJSON(_ id: String) throws -> PodStatus {
    let r = try liftoff(["status", "--format", "json", id])
    guard r.status == 0 else { throw LiftoffError(.internal, "status failed: \(r.stderr)") }
    return try JSONDecoder().decode(PodStatus.self, from: Data(r.stdout.utf8))
  }

  func list() throws -> [PodStatus] {
    let r = try liftoff(["list", "--format", "json"])
    guard r.status == 0 else { throw LiftoffError(.internal, "list failed: \(r.stderr)") }
    return try JSONDecoder().decode([PodStatus].self, from: Data(r.stdout.utf8))
  }

  /// Waits until the only pod of this fixture is running; returns its ID.
  func waitForRunningPod(timeout: Double = 20) throws -> String {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if let p = try list().first(where: { $0.state == "running" && $0.apps.allSatisfy { $0.state == "running" } }) {
        return p.id
      }
      usleep(20_000)
    }
    throw LiftoffError(.deadlineExceeded, "no running pod in \(dataDir)")
  }

  /// Everything a pod could leave on the host: mounts under the data dir, cgroups, netns files.
  func leftovers(_ ids: [String]) throws -> [String] {
    var out: [String] = []
    let canonical = try Mounts.canonical(dataDir)
    out += try Mounts.mountPoints().filter { $0.hasPrefix(canonical + "/") }.map { "mount \($0)" }
    for id in ids {
      for d in Cgroups.host().directories(pod: id) where FileSystem.exists(d) { out.append("cgroup \(d)") }
      if FileSystem.exists(PodStore.netnsPath(id)) { out.append("netns \(PodStore.netnsPath(id))") }
      for place in PodStore.Place.allCases where FileSystem.exists("\(canonical)/pods/\(place.rawValue)/\(id)") {
        out.append("dir \(place.rawValue)/\(id)")
      }
    }
    return out
  }
}

/// Polls `cond` every 50 ms until it holds; throws naming `what` after `timeout` seconds.
func waitFor(_ what: String, timeout: Double = 15, _ cond: () throws -> Bool) throws {
  let deadline = Date().addingTimeInterval(timeout)
  while Date() < deadline {
    if try cond() { return }
    usleep(50_000)
  }
  throw LiftoffError(.deadlineExceeded, "timed out waiting for \(what)")
}
