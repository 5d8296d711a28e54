// sd_notify through the real `liftoff run` as a `Type=notify` unit runs it: $NOTIFY_SOCKET names a
// datagram socket (here the test's, as systemd's would be). Each app must see its own socket at
// /run/notify/notify.sock and never the host's; stage1 relays STATUS and the like, drops MAINPID and
// FDSTORE, and says READY=1 once every app has said it. The apps send with a small static C program
// (busybox cannot send a datagram to a Unix socket), built here with the host's cc.
import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct NotifySocketTests {
  static let sender = """
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    #include <sys/socket.h>
    #include <sys/un.h>
    int main(int argc, char **argv) {
      const char *path = getenv("NOTIFY_SOCKET");
      if (!path || argc < 2) { fprintf(stderr, "sdnotify: no NOTIFY_SOCKET\\n"); return 2; }
      struct sockaddr_un a = {.sun_family = AF_UNIX};
      strncpy(a.sun_path, path, sizeof a.sun_path - 1);
      int s = socket(AF_UNIX, SOCK_DGRAM, 0);
      if (sendto(s, argv[1], strlen(argv[1]), 0, (struct sockaddr *)&a, sizeof a) < 0) { perror("sdnotify"); return 1; }
      return 0;
    }
    """

  /// The fixture's rootfs with /bin/sdnotify, and a datagram socket standing in for systemd's.
  static func setUp(_ f: PodFixture) throws -> (socket: Int32, path: String) {
    let source = f.base + "/sdnotify.c"
    try sender.write(toFile: source, atomically: true, encoding: .utf8)
    let cc = Process()
    cc.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
    cc.arguments = ["-static", "-O1", "-o", f.rootfs + "/bin/sdnotify", source]
    try cc.run()
    cc.waitUntilExit()
    guard cc.terminationStatus == 0 else { throw LiftoffError.internal("cc failed building sdnotify") }
    let fd = try UnixSocket.bindDatagram(dir: f.base, name: "systemd-notify.sock")
    return (fd, f.base + "/systemd-notify.sock")
  }

  /// The datagrams received within `seconds`.
  static func messages(_ fd: Int32, within seconds: Int32) -> [String] {
    var out: [String] = []
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    while poll(&p, 1, seconds * 1000) > 0 {
      var buffer = [UInt8](repeating: 0, count: 8192)
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
      if n > 0 { out.append(String(decoding: buffer[..<n], as: UTF8.self)) }
    }
    return out
  }

  @Test(.needsRoot) func oneAppStatusPassesMainPIDDoesNotAndReadyFollows() throws {
    let f = try PodFixture("notify")
    defer { f.tearDown() }
    let (fd, path) = try Self.setUp(f)
    defer { close(fd) }
    let script = #"""
      echo "sock=$NOTIFY_SOCKET"; ls /run/notify; [ -e \#(path) ] && echo host-socket-visible
      sdnotify "$(printf 'STATUS=warming up\nMAINPID=7\nFDSTORE=1')" && sdnotify READY=1
      """#
    let r = try f.liftoff(["run", f.rootfs, "--exec", "/bin/sh", "--", "-c", script], environment: ["NOTIFY_SOCKET": path])
    r.check()
    #expect(r.stdout.contains("sock=/run/notify/notify.sock\nnotify.sock\n"), "\(r.stdout)")
    #expect(!r.stdout.contains("host-socket-visible"))
    #expect(Self.messages(fd, within: 1) == ["STATUS=warming up", "READY=1"])
  }

  @Test(.needsRoot) func readyOnlyOnceEveryAppSaidIt() throws {
    let f = try PodFixture("notify-two")
    defer { f.tearDown() }
    let (fd, path) = try Self.setUp(f)
    defer { close(fd) }
    let r = try f.liftoff(
      [
        "run", f.rootfs, "--name", "a", "--exec", "/bin/sh", "--", "-c", "sdnotify READY=1; sleep 1", "---",
        f.rootfs, "--name", "b", "--exec", "/bin/sh", "--", "-c", "sleep 0.5; sdnotify \"$(printf 'READY=1\\nSTATUS=b up')\"",
      ], environment: ["NOTIFY_SOCKET": path])
    r.check()
    // a's READY=1 alone sends nothing; b's brings STATUS and the pod's READY=1 in one message.
    #expect(Self.messages(fd, within: 1) == ["STATUS=b up\nREADY=1"])
  }

  @Test(.needsRoot) func withoutNotifySocketTheAppHasNone() throws {
    let f = try PodFixture("notify-none")
    defer { f.tearDown() }
    let r = try f.liftoff(["run", f.rootfs, "--exec", "/bin/sh", "--", "-c", "echo \"sock=$NOTIFY_SOCKET\"; [ -e /run/notify ] && echo dir; true"])
    r.check()
    #expect(r.stdout == "sock=\n", "\(r.stdout)")
  }

  /// Under a real systemd (the VM's profile `systemd`; skipped elsewhere): a `Type=notify` unit whose
  /// ExecStart is `liftoff run` becomes active only when the app says READY=1 (stage1 is the main PID,
  /// NotifyAccess=main), with the app's STATUS as the unit's StatusText.
  @Test(.enabled(if: TestEnvironment.isRoot && Cgroups.systemdIsRunning, "needs root and systemd as PID 1"))
  func aTypeNotifyUnitIsActiveOnceTheAppIsReady() throws {
    let f = try PodFixture("notify-unit")
    defer { f.tearDown() }
    let (fd, _) = try Self.setUp(f)
    close(fd)
    let unit = "liftoff-notify-test-\(Random.hex(bytes: 4)).service"
    let unitPath = "/run/systemd/system/\(unit)"
    func systemctl(_ args: String...) throws -> (Int32, String) { try runCommand("/bin/systemctl", args) }
    defer {
      _ = try? systemctl("stop", unit)
      try? FileManager.default.removeItem(atPath: unitPath)
      _ = try? systemctl("daemon-reload")
    }
    // In a file: systemd would expand `$` and `%` in ExecStart.
    try "sleep 2; sdnotify \"$(printf 'STATUS=serving\\nREADY=1')\"; exec sleep 1000\n"
      .write(toFile: f.rootfs + "/bin/ready.sh", atomically: true, encoding: .utf8)
    try """
      [Service]
      Type=notify
      NotifyAccess=main
      ExecStart=\(PodFixture.liftoff) --dir \(f.dataDir) run \(f.rootfs) --exec /bin/sh -- /bin/ready.sh
      """.write(toFile: unitPath, atomically: true, encoding: .utf8)
    _ = try systemctl("daemon-reload")
    let started = Date()
    let (status, output) = try systemctl("start", unit)
    #expect(status == 0, "\(output)")
    // start returns once READY=1 reached systemd: after the app's 2 s, not before.
    #expect(Date().timeIntervalSince(started) >= 2)
    let (_, show) = try systemctl("show", "-p", "ActiveState", "-p", "StatusText", unit)
    #expect(show.contains("ActiveState=active") && show.contains("StatusText=serving"), "\(show)")
  }
}
