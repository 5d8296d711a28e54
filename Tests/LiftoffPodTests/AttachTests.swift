import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

/// A blocking client of stage1's attach socket (LiftoffCore/AttachProtocol.swift), for tests.
final class AttachClient {
  let fd: Int32
  var buffer: [UInt8] = []
  var stdout: [UInt8] = []
  var stderr: [UInt8] = []
  var exit: Int32?
  /// stage1 closed the socket.
  var eof = false

  init(appDir: String, stdin: Bool) throws {
    fd = try UnixSocket.connect(dir: appDir, name: AttachFrame.socketName)
    UnixSocket.setTimeout(fd, seconds: 1)
    if stdin { try send(.helloWithStdin) }
  }

  deinit { close(fd) }

  func send(_ frame: AttachFrame) throws { try FileSystem.writeAll(fd, frame.encoded) }

  /// Reads frames until `done` holds or 10 s pass; false on timeout.
  @discardableResult
  func read(until done: (AttachClient) -> Bool) throws -> Bool {
    let deadline = Date().addingTimeInterval(10)
    while !done(self) {
      guard Date() < deadline else { return false }
      var chunk = [UInt8](repeating: 0, count: 65536)
      let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
      if n <= 0 {
        eof = n == 0
        return done(self)
      }
      buffer += chunk[0..<n]
      while let (frame, used) = try AttachFrame.decode(buffer[...], direction: .toClient) {
        buffer.removeFirst(used)
        switch frame {
        case .stdout(let b): stdout += b
        case .stderr(let b): stderr += b
        case .exit(let s): exit = s
        default: break
        }
      }
    }
    return true
  }

  var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
  var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Root integration tests of stage1's attach socket through `liftoff app add --tty/--stdin/--stdin-once`.
@Suite(.needsRoot)
struct AttachTests {
  func sandbox(_ f: PodFixture) throws -> String {
    let sb = try f.liftoff(["app", "sandbox"])
    #expect(sb.status == 0, "\(sb.stderr)")
    return sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  func appDir(_ f: PodFixture, _ pod: String, _ app: String) -> String { "\(f.dataDir)/pods/run/\(pod)/apps/\(app)" }

  @Test func severalClientsShareOutputAndStdin() throws {
    let f = try PodFixture("attach")
    defer { f.tearDown() }
    let pod = try sandbox(f)
    let log = f.base + "/logs/echo.log"
    let add = try f.liftoff([
      "app", "add", pod, f.rootfs, "--name", "echo", "--stdin", "--log-path", log, "--exec", "/bin/sh", "--", "-c",
      "while read l; do echo out:$l; echo err:$l >&2; done; echo stdin-ended",
    ])
    #expect(add.status == 0, "\(add.stderr)")
    #expect(try f.liftoff(["app", "start", "--app", "echo", pod]).status == 0)
    let dir = appDir(f, pod, "echo")
    let watcher = try AttachClient(appDir: dir, stdin: false)
    let writer = try AttachClient(appDir: dir, stdin: true)
    try writer.send(.stdin(Array("one\n".utf8)))
    try writer.send(.stdin(Array("two\n".utf8)))
    for c in [watcher, writer] {
      #expect(try c.read { $0.stdoutText == "out:one\nout:two\n" && $0.stderrText == "err:one\nerr:two\n" }, "\(c.stdoutText) \(c.stderrText)")
    }
    // The log has it too, as CRI records.
    let text = try String(contentsOfFile: log, encoding: .utf8)
    #expect(text.contains(" stdout F out:two\n") && text.contains(" stderr F err:one\n"), "\(text)")
    // Without stdinOnce, a writer leaving does not close the app's stdin.
    try writer.send(.stdinClosed)
    let late = try AttachClient(appDir: dir, stdin: true)
    try late.send(.stdin(Array("three\n".utf8)))
    #expect(try late.read { $0.stdoutText == "out:three\n" })
    #expect(try watcher.read { $0.stdoutText.hasSuffix("out:three\n") })
    // The app's end reaches every client as an exit frame.
    #expect(try f.liftoff(["app", "stop", "--app", "echo", "--timeout", "1", pod]).status == 0)
    #expect(try watcher.read { $0.exit != nil })
    #expect(watcher.exit == 143 || watcher.exit == 137, "\(String(describing: watcher.exit))")
    // A client that comes after the end learns it at once.
    let after = try AttachClient(appDir: dir, stdin: false)
    #expect(try after.read { $0.exit != nil })
    #expect(try f.liftoff(["stop", pod]).status == 0)
  }

  @Test func ttyAppWithResize() throws {
    let f = try PodFixture("attachtty")
    defer { f.tearDown() }
    let pod = try sandbox(f)
    let log = f.base + "/logs/tty.log"
    let add = try f.liftoff([
      "app", "add", pod, f.rootfs, "--name", "term", "--tty", "--stdin-once", "--log-path", log, "--exec", "/bin/sh", "--", "-c",
      "read l; stty size; echo got:$l; test -t 0 && echo is-a-tty; tty; while read l; do echo again:$l; done; exit 4",
    ])
    #expect(add.status == 0, "\(add.stderr)")
    #expect(try f.liftoff(["app", "start", "--app", "term", pod]).status == 0)
    let dir = appDir(f, pod, "term")
    let c = try AttachClient(appDir: dir, stdin: true)
    try c.send(.resize(rows: 45, cols: 123))
    usleep(100_000)
    try c.send(.stdin(Array("abc\n".utf8)))
    #expect(try c.read { $0.stdoutText.contains("is-a-tty\r\n") }, "\(c.stdoutText.debugDescription)")
    #expect(c.stdoutText.contains("45 123\r\n"), "\(c.stdoutText.debugDescription)")
    #expect(c.stdoutText.contains("got:abc\r\n"))
    // The terminal is one of the container's own /dev/pts: ttyname() resolves inside.
    #expect(try c.read { $0.stdoutText.contains("/dev/pts/0\r\n") }, "\(c.stdoutText.debugDescription)")
    #expect(c.stderr.isEmpty)
    // stdinOnce does not close a terminal (no half-close; no EOT typed in): a later client still types.
    try c.send(.stdinClosed)
    let d = try AttachClient(appDir: dir, stdin: true)
    try d.send(.stdin(Array("later\n".utf8)))
    #expect(try d.read { $0.stdoutText.contains("again:later\r\n") }, "\(d.stdoutText.debugDescription)")
    let text = try String(contentsOfFile: log, encoding: .utf8)
    #expect(text.contains(" stdout F got:abc\r"), "\(text)")
    #expect(try f.liftoff(["stop", pod]).status == 0)
  }

  @Test func stdinOnceClosesTheAppsStdinWhenTheFirstWriterCloses() throws {
    let f = try PodFixture("attachonce")
    defer { f.tearDown() }
    let pod = try sandbox(f)
    let add = try f.liftoff([
      "app", "add", pod, f.rootfs, "--name", "once", "--stdin-once", "--log-path", f.base + "/logs/once.log",
      "--exec", "/bin/sh", "--", "-c", "cat; echo cat-ended; exit 4",
    ])
    #expect(add.status == 0, "\(add.stderr)")
    #expect(try f.liftoff(["app", "start", "--app", "once", pod]).status == 0)
    let dir = appDir(f, pod, "once")
    let watcher = try AttachClient(appDir: dir, stdin: false)
    let c = try AttachClient(appDir: dir, stdin: true)
    try c.send(.stdin(Array("data\n".utf8)))
    #expect(try c.read { $0.stdoutText == "data\n" })
    // A client without stdin leaving changes nothing; the first writer's close ends cat's input.
    try c.send(.stdinClosed)
    for client in [c, watcher] {
      #expect(try client.read { $0.exit != nil }, "\(client.stdoutText.debugDescription)")
      #expect(client.exit == 4)
      #expect(client.stdoutText == "data\ncat-ended\n")
    }
    #expect(try f.liftoff(["stop", pod]).status == 0)
  }

  /// A client that half-closes (liftoff-cri does, when a session ends with the client's stdin) gets
  /// the output stage1 had queued for it, then stage1's close: no fixed grace on the client's side.
  @Test func aClientThatHalfClosesGetsWhatIsQueuedThenTheClose() throws {
    let f = try PodFixture("attachhalf")
    defer { f.tearDown() }
    let pod = try sandbox(f)
    let add = try f.liftoff([
      "app", "add", pod, f.rootfs, "--name", "burst", "--stdin", "--exec", "/bin/sh", "--", "-c",
      "while read l; do dd if=/dev/zero bs=1000 count=1000 2>/dev/null; echo end:$l; done",
    ])
    #expect(add.status == 0, "\(add.stderr)")
    #expect(try f.liftoff(["app", "start", "--app", "burst", pod]).status == 0)
    let c = try AttachClient(appDir: appDir(f, pod, "burst"), stdin: true)
    try c.send(.stdin(Array("x\n".utf8)))
    // Not reading: a megabyte is more than the socket holds, so most of it waits in stage1's queue.
    usleep(1_000_000)
    try c.send(.stdinClosed)
    shutdown(c.fd, Int32(SHUT_WR))
    #expect(try c.read { $0.eof }, "stage1 never closed: \(c.stdout.count) bytes")
    #expect(c.stdout.count == 1_000_000 + 6 && c.stdoutText.hasSuffix("end:x\n"), "\(c.stdout.count) bytes")
    #expect(c.exit == nil)
    // The session's end leaves the app running, its stdin open for the next client.
    let d = try AttachClient(appDir: appDir(f, pod, "burst"), stdin: true)
    try d.send(.stdin(Array("y\n".utf8)))
    #expect(try d.read { $0.stdoutText.hasSuffix("end:y\n") })
    #expect(try f.liftoff(["app", "stop", "--app", "burst", "--timeout", "1", pod]).status == 0)
    #expect(try f.liftoff(["stop", pod]).status == 0)
  }
}
