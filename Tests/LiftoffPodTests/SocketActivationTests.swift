// Socket activation through the real `liftoff run`, started as systemd starts a socket-activated
// service: a listening socket at descriptor 3, LISTEN_FDS, LISTEN_FDNAMES, and LISTEN_PID set to
// the pid that runs `liftoff` (a shell that execs it). The app must get that very socket at 3 (same
// inode), LISTEN_PID equal to its own pid, no descriptor 4, and nothing when LISTEN_PID names another
// process; a pod of two apps is refused.
import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct SocketActivationTests {
  /// `sh -c 'LISTEN_PID=$$ exec liftoff --dir D ARGS'` (or with `listenPID` as given) with `socket` at
  /// descriptor 3, LISTEN_FDS=1 and LISTEN_FDNAMES=web: status, stdout, stderr.
  static func spawn(_ f: PodFixture, socket: Int32, listenPID: String = "$$", _ args: [String]) throws -> (Int32, String, String) {
    let quoted = ([PodFixture.liftoff, "--dir", f.dataDir] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
    let script = "LISTEN_PID=\(listenPID) LISTEN_FDS=1 LISTEN_FDNAMES=web exec " + quoted.joined(separator: " ")
    var sh = Subprocess(executable: "/bin/sh", argv: ["/bin/sh", "-c", script], env: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" })
    sh.stdout = .capture(limit: 1 << 20)
    sh.stderr = .capture(limit: 1 << 20)
    sh.extraFDs = [socket]
    let r = try sh.run()
    return (r.status, String(decoding: r.stdout, as: UTF8.self), String(decoding: r.stderr, as: UTF8.self))
  }

  /// A listening TCP socket on 127.0.0.1 (ephemeral port) and its inode.
  static func listener() throws -> (Int32, UInt64) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard fd >= 0, ok == 0, listen(fd, 4) == 0 else { throw LiftoffError.internal("listener") }
    var st = stat()
    fstat(fd, &st)
    return (fd, UInt64(st.st_ino))
  }

  static let probe = #"echo "fds=$LISTEN_FDS pid=$LISTEN_PID self=$$ names=$LISTEN_FDNAMES"; readlink /proc/$$/fd/3; [ -e /proc/$$/fd/4 ] && echo leak4; true"#

  @Test(.needsRoot) func appGetsThePassedSocket() throws {
    let f = try PodFixture("socket-activation")
    defer { f.tearDown() }
    let (sock, inode) = try Self.listener()
    defer { close(sock) }
    let (status, out, err) = try Self.spawn(f, socket: sock, ["run", f.rootfs, "--exec", "/bin/sh", "--", "-c", Self.probe])
    #expect(status == 0, "\(err)")
    #expect(out.contains("fds=1 pid=1 self=1 names=web"), "\(out)")
    #expect(out.contains("socket:[\(inode)]"), "the app's descriptor 3 is the socket passed: \(out)")
    #expect(!out.contains("leak4"), "\(out)")
  }

  @Test(.needsRoot) func variablesForAnotherProcessAreIgnoredAndTwoAppsRefused() throws {
    let f = try PodFixture("socket-activation-no")
    defer { f.tearDown() }
    let (sock, _) = try Self.listener()
    defer { close(sock) }
    // LISTEN_PID of another process: not ours (sd_listen_fds' rule): the app gets neither the
    // variables nor the descriptor.
    let (status, out, err) = try Self.spawn(f, socket: sock, listenPID: "1", ["run", f.rootfs, "--exec", "/bin/sh", "--", "-c", Self.probe])
    #expect(status == 0, "\(err)")
    #expect(out.contains("fds= pid= self=1 names="), "\(out)")
    #expect(!out.contains("socket:["), "\(out)")

    let (two, _, twoErr) = try Self.spawn(
      f, socket: sock, [
        "run", f.rootfs, "--name", "a", "--exec", "/bin/true", "--", "x", "---", f.rootfs, "--name", "b", "--exec", "/bin/true", "--", "x",
      ])
    #expect(two != 0)
    #expect(twoErr.contains("socket activation (LISTEN_FDS=1) needs a pod of one app, not 2"), "\(twoErr)")
  }
}
