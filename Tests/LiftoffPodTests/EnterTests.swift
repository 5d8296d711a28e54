import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

/// Root integration tests of `liftoff enter` (the path CRI exec takes): the entered command runs
/// with the app's confinement, checked from /proc/self inside the pod against the app itself.
@Suite(.needsRoot)
struct EnterTests {
  /// `Field:\tvalue` lines of a /proc status text, for the given fields.
  static func fields(_ text: String, _ names: [String]) -> [String: String] {
    var out: [String: String] = [:]
    for line in text.split(separator: "\n") {
      let kv = line.split(separator: ":", maxSplits: 1)
      if kv.count == 2, names.contains(String(kv[0])) {
        out[String(kv[0])] = kv[1].trimmingCharacters(in: .whitespaces)
      }
    }
    return out
  }

  /// cgroup v1 lines of the controllers Liftoff places apps in (`4:memory:/liftoff/<pod>/<app>`).
  static func appCgroupLines(_ text: String) -> [String] {
    text.split(separator: "\n").map(String.init).filter { line in
      let parts = line.split(separator: ":", maxSplits: 2)
      guard parts.count == 3 else { return false }
      let controllers = parts[1].split(separator: ",")
      return controllers.contains("memory") || controllers.contains("pids") || controllers.contains("cpu")
        || parts[1].isEmpty
    }.sorted()
  }

  @Test func enterTakesTheAppsUserCapabilitiesSeccompAndCgroup() throws {
    let f = try PodFixture("enterconf")
    defer { f.tearDown() }
    // Two apps: a root one with a reduced capability set, and one running as alice with an env and
    // a working directory.
    let running = try f.start([
      "run", f.rootfs, "--name", "capped", "--caps-retain", "CAP_CHOWN,CAP_KILL", "--exec", "/bin/sleep", "--", "1000",
      "---", f.rootfs, "--name", "alice", "--user", "alice", "--set-env", "FOO=bar", "--working-dir", "/home/alice",
      "--exec", "/bin/sleep", "--", "1000",
      // The CRI default: seccomp on, no_new_privs off — the filter must be loaded while enter still
      // holds CAP_SYS_ADMIN.
      "---", f.rootfs, "--name", "lax", "--user", "alice", "--no-new-privileges=false", "--exec", "/bin/sleep", "--", "1000",
    ])
    let id = try f.waitForRunningPod()
    let names = ["Uid", "Gid", "Groups", "CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb", "NoNewPrivs", "Seccomp"]

    for app in ["capped", "alice", "lax"] {
      // The app itself (PID 1 of its PID namespace) as seen from the entered shell, and the shell.
      let r = try f.liftoff([
        "enter", "--app", app, id, "/bin/sh", "-c",
        "cat /proc/1/status; echo ===; cat /proc/self/status; echo ===; cat /proc/1/cgroup; echo ===; cat /proc/self/cgroup",
      ])
      #expect(r.status == 0, "\(r.stderr)")
      let parts = r.stdout.components(separatedBy: "===\n")
      try #require(parts.count == 4, "\(r.stdout)")
      let appStatus = Self.fields(parts[0], names)
      let mine = Self.fields(parts[1], names)
      #expect(appStatus.count == names.count, "\(parts[0])")
      for n in names { #expect(mine[n] == appStatus[n], "\(app): \(n) is \(mine[n] ?? "-"), the app's \(appStatus[n] ?? "-")") }
      #expect(mine["Seccomp"] == "2")
      #expect(mine["NoNewPrivs"] == (app == "lax" ? "0" : "1"))
      let appCgroups = Self.appCgroupLines(parts[2])
      #expect(!appCgroups.isEmpty)
      #expect(Self.appCgroupLines(parts[3]) == appCgroups, "\(parts[3]) vs \(parts[2])")
      #expect(appCgroups.contains { $0.hasSuffix("/\(id)/\(app)") }, "\(appCgroups)")
    }
    let capped = try f.liftoff(["enter", "--app", "capped", id, "/bin/sh", "-c", "grep ^CapEff: /proc/self/status"])
    #expect(capped.stdout == "CapEff:\t0000000000000021\n", "\(capped)")
    let alice = try f.liftoff(["enter", "--app", "alice", id, "/bin/sh", "-c", "id; echo $FOO; pwd"])
    #expect(alice.stdout == "uid=1000(alice) gid=1000(alice) groups=29(audio),50(staff),1000(alice)\nbar\n/home/alice\n", "\(alice)")
    // The PIDs the cgroup holds include the entered command while it runs.
    let pids = try f.liftoff(["enter", "--app", "alice", id, "/bin/sh", "-c", "cat /proc/self/cgroup | grep pids"])
    #expect(pids.stdout.contains("/liftoff/\(id)/alice"), "\(pids)")

    #expect(try f.liftoff(["stop", "--force", id]).status == 0)
    _ = try f.finish(running)
  }

  @Test func killingEnterKillsTheCommand() throws {
    let f = try PodFixture("enterkill")
    defer { f.tearDown() }
    let running = try f.start(["run", f.rootfs, "--exec", "/bin/sleep", "--", "1000"])
    let id = try f.waitForRunningPod()
    let marker = "4242\(Int.random(in: 100...999))"
    let enter = try f.start(["enter", id, "/bin/sleep", marker])
    func sleepers() -> [String] {
      let procs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
      return procs.filter { p in
        guard Int(p) != nil, let cmd = try? String(contentsOfFile: "/proc/\(p)/cmdline", encoding: .utf8) else { return false }
        return cmd == "/bin/sleep\0\(marker)\0"
      }
    }
    var deadline = Date().addingTimeInterval(10)
    while Date() < deadline, sleepers().isEmpty { usleep(20_000) }
    #expect(sleepers().count == 1)
    kill(enter.process.processIdentifier, SIGKILL)
    enter.process.waitUntilExit()
    deadline = Date().addingTimeInterval(10)
    while Date() < deadline, !sleepers().isEmpty { usleep(20_000) }
    #expect(sleepers().isEmpty, "the entered command outlived liftoff enter")
    #expect(try f.liftoff(["stop", "--force", id]).status == 0)
    _ = try f.finish(running)
  }

  @Test func enterTTYMakesStdinTheControllingTerminal() throws {
    let f = try PodFixture("entertty")
    defer { f.tearDown() }
    let running = try f.start(["run", f.rootfs, "--exec", "/bin/sleep", "--", "1000"])
    let id = try f.waitForRunningPod()
    // A pty from the host: the entered shell's stdin; its session leader check through /proc.
    let pair = try Terminal.openPair()
    defer { close(pair.master) }
    let slavePath = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(pair.slave)")
    close(pair.slave)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: PodFixture.liftoff)
    p.arguments = ["--dir", f.dataDir, "enter", "--tty", id, "/bin/sh", "-c", "cat /proc/$$/stat; test -t 0 && echo isatty"]
    let slave = try #require(FileHandle(forUpdatingAtPath: slavePath))
    let out = Pipe()
    p.standardInput = slave
    p.standardOutput = out
    p.standardError = out
    try p.run()
    try slave.close()
    p.waitUntilExit()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    #expect(p.terminationStatus == 0, "\(text)")
    // /proc/PID/stat: pid (comm) state ppid pgrp session tty_nr …: the shell leads its session and
    // has a controlling terminal.
    let fieldsAfterComm = text.split(separator: ")", maxSplits: 1).last?.split(separator: " ") ?? []
    let pid = text.split(separator: " ").first.map(String.init)
    #expect(fieldsAfterComm.count > 5)
    if fieldsAfterComm.count > 5 {
      #expect(String(fieldsAfterComm[3]) == pid, "session \(fieldsAfterComm[3]) is not the shell's pid \(pid ?? "")")
      #expect(fieldsAfterComm[5] != "0", "no controlling terminal: \(text)")
    }
    #expect(text.contains("isatty"))
    #expect(try f.liftoff(["stop", "--force", id]).status == 0)
    _ = try f.finish(running)
  }
}

