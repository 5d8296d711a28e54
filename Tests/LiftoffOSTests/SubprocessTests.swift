// Subprocess for real (no root needed): stdin from bytes, capture and its cap, the deadline and its
// signal, the process group (at once, with a grace for the leader, after the leader's exit), no
// descriptor of the caller in the child, exit status and signal decoding, spawn errors; runOnThread.
import Glibc
import LiftoffCore
import LiftoffOS
import Testing

@Suite struct SubprocessTests {
  static func sh(_ script: String) -> Subprocess {
    var p = Subprocess(executable: "/bin/sh", argv: ["/bin/sh", "-c", script], env: ["PATH=/usr/bin:/bin"])
    p.stdout = .capture(limit: 1 << 20)
    p.stderr = .capture(limit: 1 << 20)
    return p
  }

  static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

  /// Whether `pid` is gone (or a zombie nobody has reaped yet), waiting up to 5 s.
  static func gone(_ pid: Int32) -> Bool {
    for _ in 0..<500 {
      guard let stat = try? FileSystem.readString("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return true }
      if stat[stat.index(after: close)...].split(separator: " ").first == "Z" { return true }
      usleep(10_000)
    }
    return false
  }

  @Test func stdinBytesReachTheChildAndOutputIsCaptured() throws {
    var p = Self.sh("cat; echo oops >&2")
    p.stdin = .bytes(Array("hello\nworld\n".utf8))
    let r = try p.run(timeout: 10)
    #expect(Self.text(r.stdout) == "hello\nworld\n")
    #expect(Self.text(r.stderr) == "oops\n")
    #expect(r.termination == .exited(0) && !r.timedOut)
  }

  @Test func emptyStdinIsDevNull() throws {
    let r = try Self.sh("readlink /proc/self/fd/0; cat").run(timeout: 10)
    #expect(Self.text(r.stdout) == "/dev/null\n")
  }

  @Test func captureKeepsOnlyTheCapButReadsToTheEnd() throws {
    var p = Self.sh("head -c 1000000 /dev/zero; echo done >&2")
    p.stdout = .capture(limit: 1000)
    let r = try p.run(timeout: 10)
    #expect(r.stdout.count == 1000)
    // The rest was read and dropped: the writer was not stopped by SIGPIPE.
    #expect(r.termination == .exited(0))
    #expect(Self.text(r.stderr) == "done\n")
  }

  @Test func exitStatusAndSignalAreDecoded() throws {
    let exited = try Self.sh("exit 7").run(timeout: 10)
    #expect(exited.termination == .exited(7) && exited.status == 7)
    let killed = try Self.sh("kill -TERM $$").run(timeout: 10)
    #expect(killed.termination == .signaled(SIGTERM) && killed.status == 128 + SIGTERM)
  }

  @Test func timeoutKillsTheChild() throws {
    let start = Clock.monotonic()
    let r = try Self.sh("exec sleep 30").run(timeout: 0.3)
    #expect(r.timedOut)
    #expect(r.termination == .signaled(SIGKILL))
    #expect(Clock.monotonic() - start < 5)
  }

  @Test func timeoutSignalIsTheOneAskedFor() throws {
    var p = Self.sh("trap 'echo got-term; exit 3' TERM; sleep 30 & wait")
    p.timeoutSignal = SIGTERM
    let r = try p.run(timeout: 0.5)
    #expect(r.timedOut)
    #expect(r.termination == .exited(3))
    #expect(Self.text(r.stdout) == "got-term\n")
  }

  @Test func timeoutKillsTheWholeProcessGroup() throws {
    var p = Self.sh("sleep 30 & echo $!; sleep 30; echo not-killed")
    p.ownProcessGroup = true
    let r = try p.run(timeout: 0.5)
    #expect(r.timedOut)
    #expect(r.termination == .signaled(SIGKILL))
    let background = Int32(Self.text(r.stdout).split(separator: "\n").first ?? "") ?? 0
    #expect(background > 0 && Self.gone(background))
    #expect(!Self.text(r.stdout).contains("not-killed"))
  }

  @Test func leaderGraceLetsTheLeaderOutliveTheGroup() throws {
    // The others get the signal; the leader sees its child die, says so and exits by itself.
    var p = Self.sh("sleep 30; echo leader-after-$?")
    p.ownProcessGroup = true
    p.leaderGrace = 5
    let start = Clock.monotonic()
    let r = try p.run(timeout: 0.5)
    #expect(r.timedOut)
    #expect(r.termination == .exited(0))
    #expect(Self.text(r.stdout) == "leader-after-\(128 + SIGKILL)\n")
    #expect(Clock.monotonic() - start < 5)
  }

  @Test func killGroupOnExitDoesNotWaitForWhatTheLeaderLeft() throws {
    // The background sleep holds stdout open: without killGroupOnExit this would wait for it.
    var p = Self.sh("sleep 30 & echo $!")
    p.ownProcessGroup = true
    p.killGroupOnExit = true
    let start = Clock.monotonic()
    let r = try p.run()
    #expect(!r.timedOut && r.termination == .exited(0))
    #expect(Clock.monotonic() - start < 5)
    let background = Int32(Self.text(r.stdout).trimmingCharacters(in: "\n")) ?? 0
    #expect(background > 0 && Self.gone(background))
  }

  @Test func captureTailKeepsTheEndAndStderrCanJoinStdout() throws {
    var p = Self.sh("head -c 100000 /dev/zero; echo out-end; echo err-end >&2")
    p.stdout = .captureTail(limit: 18)
    p.stderr = .stdout
    let r = try p.run(timeout: 10)
    #expect(Self.text(r.stdout) == "\0\0out-end\nerr-end\n", "\(Self.text(r.stdout).debugDescription)")
    #expect(r.stderr.isEmpty && r.termination == .exited(0))
  }

  @Test func withoutReadingToTheEndWhatTheChildLeftIsNotWaitedFor() throws {
    // The background sleep holds stdout open and stays alive: only what was written before the exit.
    var p = Self.sh("sleep 30 & echo $!; echo before-exit")
    p.readOutputToTheEnd = false
    let start = Clock.monotonic()
    let r = try p.run(timeout: 20)
    #expect(!r.timedOut && r.termination == .exited(0))
    #expect(Clock.monotonic() - start < 5)
    let lines = Self.text(r.stdout).split(separator: "\n")
    #expect(lines.count == 2 && lines[1] == "before-exit", "\(lines)")
    if let background = Int32(lines.first ?? "") { kill(background, SIGKILL) }
  }

  @Test func hookProcessKeepsTheTailOfItsOutputAndFeedsItsState() throws {
    let ok = HookProcess.run(
      path: "/bin/sh", argv: ["sh", "-c", "cat; echo; echo to-stderr >&2"], env: [], stdin: Array(#"{"pid":1}"#.utf8), cwd: "/",
      timeoutSeconds: 10)
    #expect(ok.succeeded && ok.output == "{\"pid\":1}\nto-stderr\n", "\(ok.output.debugDescription)")
    let failed = HookProcess.run(
      path: "/bin/sh", argv: ["sh", "-c", "head -c 5000 /dev/zero | tr '\\0' x; echo the-reason >&2; exit 3"], env: [], stdin: [],
      cwd: nil, timeoutSeconds: 10)
    #expect(failed.termination == .exited(3))
    #expect(failed.output.count == 2048 && failed.output.hasSuffix("xthe-reason\n"))
    #expect(failed.describe(timeoutSeconds: 10).hasPrefix("exited with status 3: xxx"))
    let hung = HookProcess.run(path: "/bin/sh", argv: ["sh", "-c", "sleep 100 & exec sleep 101"], env: [], stdin: [], cwd: nil, timeoutSeconds: 1)
    #expect(hung.timedOut && hung.termination == nil && hung.describe(timeoutSeconds: 1) == "was killed after its timeout of 1 s")
    let missing = HookProcess.run(path: "/nonexistent/hook", argv: ["hook"], env: [], stdin: [], cwd: nil, timeoutSeconds: 1)
    #expect(missing.spawnError == ENOENT && missing.describe(timeoutSeconds: 1).hasPrefix("could not be started"))
  }

  @Test func noDescriptorOfTheCallerReachesTheChild() throws {
    // Opened without O_CLOEXEC: posix_spawn alone would pass it on.
    let leaky = open("/dev/null", O_RDONLY)
    #expect(leaky >= 3)
    defer { close(leaky) }
    let r = try Self.sh("ls /proc/$$/fd").run(timeout: 10)
    let fds = Set(Self.text(r.stdout).split(separator: "\n").compactMap { Int32($0) })
    #expect(fds == [0, 1, 2], "child has \(fds.sorted()), leaky fd was \(leaky)")
  }

  @Test func extraDescriptorsBecomeThreeAndUp() throws {
    let leaky = open("/dev/null", O_RDONLY)
    let pipe = try ProcessControl.pipe()
    defer { for fd in [leaky, pipe.read, pipe.write] { close(fd) } }
    var p = Self.sh("readlink /proc/$$/fd/3 /proc/$$/fd/4; ls /proc/$$/fd")
    p.extraFDs = [pipe.write, leaky]  // out of order: fd 3 is the pipe, fd 4 /dev/null
    let r = try p.run(timeout: 10)
    let lines = Self.text(r.stdout).split(separator: "\n").map(String.init)
    #expect(lines.count >= 2 && lines[0].hasPrefix("pipe:") && lines[1] == "/dev/null", "\(lines)")
    #expect(Set(lines.dropFirst(2).compactMap { Int32($0) }) == [0, 1, 2, 3, 4])
  }

  @Test func spawnedChildHandsOverPipeEnds() throws {
    var p = Subprocess(executable: "/bin/cat", argv: ["cat"], env: [])
    p.stdin = .pipe
    p.stdout = .pipe
    p.ownProcessGroup = true
    let child = try p.spawn()
    let message = Array("ping\n".utf8)
    #expect(write(child.stdin!, message, message.count) == message.count)
    close(child.stdin!)
    let got = try FileSystem.readAll(child.stdout!, limit: 100)
    close(child.stdout!)
    #expect(got == message)
    #expect(getpgid(child.pid) == child.pid)
    #expect(try ProcessControl.wait(child.pid) == .exited(0))
  }

  @Test func aMissingExecutableIsASpawnError() {
    let p = Subprocess(executable: "/nonexistent/liftoff-test", argv: ["x"], env: [])
    #expect {
      _ = try p.run(timeout: 1)
    } throws: { error in
      (error as? SystemCallError).map { $0.call == "posix_spawn" && $0.errno == ENOENT } ?? false
    }
  }

  @Test func asyncRunAndRunOnThread() async throws {
    var p = Self.sh("echo async")
    p.stdin = .bytes([])
    let r = try await p.run(timeout: 10)
    #expect(Self.text(r.stdout) == "async\n")
    let value = await runOnThread { 6 * 7 }
    #expect(value == 42)
    await #expect(throws: SystemCallError.self) {
      try await runOnThread { () throws(SystemCallError) -> Int in throw SystemCallError("test", errno: EIO) }
    }
  }
}

/// answerAtEndOfOutput and SpareProcess (Stage0.swift's way of running `liftoff`), with sh.
@Suite struct EarlyAnswerTests {
  @Test func anAnswerComesWhenTheOutputEndsNotAtTheExit() async throws {
    var p = SubprocessTests.sh("echo answer; exec >/dev/null 2>&1; sleep 2")
    p.answerAtEndOfOutput = true
    let r = try await p.run(timeout: 10)
    #expect(SubprocessTests.text(r.stdout) == "answer\n")
    #expect(r.termination == nil, "run waited for the exit: \(String(describing: r.termination))")
  }

  @Test func aChildThatEndsItsOutputWithoutAnAnswerIsWaitedFor() async throws {
    var p = SubprocessTests.sh("exec >/dev/null 2>&1; exit 3")
    p.answerAtEndOfOutput = true
    let r = try await p.run(timeout: 10)
    #expect(r.stdout.isEmpty && r.termination == .exited(3))
  }

  /// A spare child reading its input, answering with its pid — one process (sh's builtins), as
  /// `liftoff` is: a `cat` of its own would outlive a kill of the shell and keep reading.
  static func spare(_ script: String = "/bin/sh") -> SpareProcess {
    var p = Subprocess(executable: script, argv: [script, "-c", "read -r x; echo $$ $x"], env: ["PATH=/usr/bin:/bin"])
    p.stdout = .capture(limit: 1 << 20)
    p.answerAtEndOfOutput = true
    return SpareProcess(p)
  }

  static func readyPID(_ s: SpareProcess) throws -> Int32 {
    for _ in 0..<500 {
      if let pid = s.readyPID { return pid }
      usleep(10_000)
    }
    throw SystemCallError("spare never ready", errno: ETIMEDOUT)
  }

  static func answer(_ s: SpareProcess, _ input: String) async throws -> (pid: Int32, text: String) {
    let r = try await s.run(input: Array(input.utf8), timeout: 10)
    let words = SubprocessTests.text(r.stdout).split(separator: " ", maxSplits: 1)
    return (Int32(words.first ?? "") ?? -1, words.count > 1 ? String(words[1]) : "")
  }

  @Test func theNextCallGoesToTheSpareStartedAfterTheLast() async throws {
    let s = Self.spare()
    defer { s.close() }
    let first = try await Self.answer(s, "one")
    #expect(first.text == "one\n")
    let ready = try Self.readyPID(s)
    let second = try await Self.answer(s, "two")
    #expect(second == (ready, "two\n"))
    #expect(SubprocessTests.gone(ready))
  }

  @Test func aSpareKilledWhileItWaitedIsReplacedByAFreshChild() async throws {
    let s = Self.spare()
    defer { s.close() }
    s.prepare()
    let ready = try Self.readyPID(s)
    kill(ready, SIGKILL)
    #expect(SubprocessTests.gone(ready))
    let got = try await Self.answer(s, "again")
    #expect(got.text == "again\n" && got.pid != ready, "\(got)")
  }

  @Test func aSpareOfAReplacedExecutableIsNotUsed() async throws {
    let dir = try makeTempDir("spare")
    defer { try? FileSystem.removeTree(dir) }
    let sh = "\(dir)/sh"
    let shell = try FileSystem.readBytes("/bin/sh")
    try FileSystem.writeAtomically(sh, shell, mode: 0o755)
    let s = Self.spare(sh)
    defer { s.close() }
    s.prepare()
    let ready = try Self.readyPID(s)
    // An upgrade: a new file renamed over the old one.
    try FileSystem.writeAtomically(sh, shell, mode: 0o755)
    let got = try await Self.answer(s, "new")
    #expect(got.text == "new\n" && got.pid != ready)
    #expect(SubprocessTests.gone(ready))
  }

  @Test func closingKillsTheSpare() throws {
    let s = Self.spare()
    s.prepare()
    let ready = try Self.readyPID(s)
    s.close()
    #expect(SubprocessTests.gone(ready))
  }
}
