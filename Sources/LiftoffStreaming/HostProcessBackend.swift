// A StreamingBackend on the host itself, with no container: exec runs the command as a host process
// (Subprocess: posix_spawn from C, pipes or a pty), attach joins a host process started with startProcess (several
// clients at once), port-forward connects to 127.0.0.1:PORT. The tests drive the streaming server with
// it; the container backend does the same inside a pod. Every process it starts is killed when its
// session is cancelled, so none outlives the server.
import CLinux
import Dispatch
import Foundation
import LiftoffCore
import LiftoffOS
import Synchronization

public final class HostProcessBackend: StreamingBackend {
  public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

  private let processes = Mutex<[String: AttachableProcess]>([:])

  public init() {}

  // MARK: exec

  public func exec(containerID: String, cmd: [String], tty: Bool, io: StreamIO) async throws -> Int32 {
    let process = try HostProcess.spawn(cmd: cmd, tty: tty, stdin: io.stdin != nil, stdout: io.stdout != nil, stderr: io.stderr != nil)
    return try await Self.run(process, tty: tty, io: io)
  }

  /// Connects a spawned process to the session's streams until it exits and its output is copied;
  /// returns its exit status. Cancellation kills it. Closes its fds.
  /// `signalResize`: the process also gets SIGWINCH after each size change (`liftoff enter` relays
  /// it to the pty it opened inside the container; no session has the outer terminal, so the kernel
  /// signals nobody).
  static func run(_ process: HostProcess, tty: Bool, io: StreamIO, signalResize: Bool = false) async throws -> Int32 {
    // The fds close only after the task group, so after every thread that uses them has finished.
    defer { process.closeAll() }
    return try await withTaskCancellationHandler {
      try await withThrowingTaskGroup(of: Void.self) { group in
        if let input = io.stdin, let fd = process.stdinFD {
          group.addTask {
            let writer = FDWriter(fd: fd)
            try? await writer.copy(from: input)
            await writer.stopAndWait()
            if !tty { process.closeStdin() }
          }
        }
        if let resize = io.resize, let master = process.ptyMaster {
          group.addTask {
            for await size in resize {
              _ = liftoff_set_winsize(master, size.height, size.width)
              if signalResize { process.signal(SIGWINCH) }
            }
          }
        }
        var outputs: [(FDReadPump, OutputSink)] = []
        if let pump = process.stdoutPump, let sink = io.stdout { outputs.append((pump, sink)) }
        if let pump = process.stderrPump, let sink = io.stderr { outputs.append((pump, sink)) }
        let copies = Task {
          try await withThrowingTaskGroup(of: Void.self) { copyGroup in
            for (pump, sink) in outputs { copyGroup.addTask { try await pump.copy(to: sink) } }
            try await copyGroup.waitForAll()
          }
        }
        let status = await process.wait()
        // Output written before the exit is still in the pipes: copy it all, then stop.
        try? await copies.value
        group.cancelAll()
        return status
      }
    } onCancel: {
      process.kill()
    }
  }

  // MARK: attach

  /// Starts a long-running host process that clients can attach to by `id` (stands for a container).
  public func startProcess(id: String, cmd: [String], tty: Bool) throws {
    let process = try HostProcess.spawn(cmd: cmd, tty: tty, stdin: true, stdout: true, stderr: !tty)
    let attachable = AttachableProcess(process: process)
    processes.withLock { $0[id] = attachable }
    attachable.startFanOut()
  }

  /// Kills a process started with startProcess and waits for it.
  public func stopProcess(id: String) async {
    guard let p = processes.withLock({ $0.removeValue(forKey: id) }) else { return }
    p.process.kill()
    _ = await p.exited.value
    // Only once no thread reads or writes them may the fds close (their numbers get reused).
    for task in p.fanOut { await task.value }
    await p.stdinWriter?.stopAndWait()
    p.process.closeAll()
  }

  /// How many clients are attached to a process started with startProcess.
  func attachedClients(id: String) -> Int {
    processes.withLock { $0[id] }?.subscriberCount ?? 0
  }

  public func attach(containerID: String, tty: Bool, io: StreamIO) async throws {
    guard let p = processes.withLock({ $0[containerID] }) else {
      throw LiftoffError.notFound("container \(containerID) is not running")
    }
    guard p.process.tty == tty else {
      throw LiftoffError.invalidArgument("container \(containerID) was started with tty=\(p.process.tty), attach asked tty=\(tty)")
    }
    let (subscription, stdoutFeed, stderrFeed) = p.subscribe()
    defer { p.unsubscribe(subscription) }
    try await withThrowingTaskGroup(of: Void.self) { group in
      if let input = io.stdin, let writer = p.stdinWriter {
        group.addTask { for await chunk in input { try? await writer.write(chunk) } }
      }
      if let resize = io.resize, let master = p.process.ptyMaster {
        group.addTask { for await size in resize { _ = liftoff_set_winsize(master, size.height, size.width) } }
      }
      let outputs = Task {
        try await withThrowingTaskGroup(of: Void.self) { g in
          g.addTask { for await chunk in stdoutFeed { try await io.stdout?.write(chunk) } }
          g.addTask { for await chunk in stderrFeed { try await io.stderr?.write(chunk) } }
          try await g.waitForAll()
        }
      }
      // Until the process exits (its output then ends) or the client goes (cancellation).
      try await withTaskCancellationHandler {
        try await outputs.value
      } onCancel: {
        outputs.cancel()
      }
      group.cancelAll()
    }
  }

  // MARK: port-forward

  public func portForward(podSandboxID: String, port: UInt16, stream: PortForwardStream) async throws {
    try await Self.forward(try Self.connectLoopback(port: port), stream: stream)
  }

  /// Copies between a connected socket and a port-forward stream until both directions ended (or the
  /// session is cancelled); closes the socket.
  static func forward(_ fd: Int32, stream: PortForwardStream) async throws {
    defer { close(fd) }
    try await withTaskCancellationHandler {
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
          let writer = FDWriter(fd: fd)
          do { try await writer.copy(from: stream.inbound) } catch {
            await writer.stopAndWait()
            throw error
          }
          await writer.stopAndWait()
          shutdown(fd, Int32(SHUT_WR))
        }
        group.addTask {
          let pump = FDReadPump(fd: fd)
          do { try await pump.copy(to: stream.outbound) } catch {
            shutdown(fd, Int32(SHUT_RDWR))
            throw error
          }
          await stream.closeOutbound()
        }
        do { try await group.waitForAll() } catch {
          shutdown(fd, Int32(SHUT_RDWR))
          throw error
        }
      }
    } onCancel: {
      shutdown(fd, Int32(SHUT_RDWR))
    }
  }

  /// Connects to 127.0.0.1:`port` with `socket` (a fresh TCP socket of the host's namespace when nil);
  /// the socket is closed on failure.
  static func connectLoopback(port: UInt16, socket given: Int32? = nil) throws -> Int32 {
    let fd = given ?? socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw LiftoffError.internal("socket", cause: SystemCallError("socket", errno: errno)) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else {
      let e = errno
      close(fd)
      throw LiftoffError(.unavailable, "cannot connect to 127.0.0.1:\(port)", cause: SystemCallError("connect", errno: e))
    }
    return fd
  }
}

/// A spawned host process and this side's ends of its stdio.
final class HostProcess: Sendable {
  let pid: pid_t
  let tty: Bool
  let ptyMaster: Int32?
  private let stdinWrite: Int32?
  let stdoutPump: FDReadPump?
  let stderrPump: FDReadPump?
  private let fds: Mutex<[Int32]>
  private let reaped = AtomicFlag()

  var stdinFD: Int32? { ptyMaster ?? stdinWrite }

  private init(pid: pid_t, tty: Bool, ptyMaster: Int32?, stdinWrite: Int32?, stdoutRead: Int32?, stderrRead: Int32?) {
    self.pid = pid
    self.tty = tty
    self.ptyMaster = ptyMaster
    self.stdinWrite = stdinWrite
    if let m = ptyMaster {
      stdoutPump = FDReadPump(fd: m)
      stderrPump = nil
    } else {
      stdoutPump = stdoutRead.map { FDReadPump(fd: $0) }
      stderrPump = stderrRead.map { FDReadPump(fd: $0) }
    }
    fds = Mutex([ptyMaster, stdinWrite, stdoutRead, stderrRead].compactMap { $0 })
  }

  static func resolve(_ name: String) throws -> String {
    if name.contains("/") { return name }
    for dir in HostProcessBackend.defaultPath.split(separator: ":") {
      let candidate = "\(dir)/\(name)"
      if access(candidate, X_OK) == 0 { return candidate }
    }
    throw LiftoffError.notFound("executable \"\(name)\" not found in \(HostProcessBackend.defaultPath)")
  }

  /// With `tty` and `controllingTTY` false, the pty's slave is the child's stdin/stdout/stderr but not
  /// its controlling terminal (the child is in a new process group instead), so that a process it starts
  /// in a session of its own can take the terminal (`liftoff enter --tty`).
  static func spawn(
    cmd: [String], tty: Bool, stdin: Bool, stdout: Bool, stderr: Bool, controllingTTY: Bool = true,
    env extraEnv: [String] = [], environment: [String]? = nil
  ) throws -> HostProcess {
    guard let first = cmd.first, !first.isEmpty else { throw LiftoffError.invalidArgument("exec: cmd is empty") }
    let path = try resolve(first)
    var env = ["PATH=\(HostProcessBackend.defaultPath)", "HOME=/root"]
    if tty { env.append("TERM=xterm") }
    env += extraEnv
    if let environment { env = environment }
    var spec = Subprocess(executable: path, argv: cmd, env: env)
    spec.ownProcessGroup = true
    var master: Int32?
    var slave: Int32?
    defer { if let slave { close(slave) } }
    if tty {
      var m: Int32 = -1
      var name = [CChar](repeating: 0, count: 128)
      let rc = liftoff_open_pty(&m, &name, name.count)
      guard rc == 0 else { throw LiftoffError.internal("cannot open a pty", cause: SystemCallError("posix_openpt", errno: rc)) }
      master = m
      let ttyPath = String(cString: name)
      if controllingTTY {
        spec.controllingTerminal = ttyPath
      } else {
        let fd = open(ttyPath, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
          let e = errno
          close(m)
          throw LiftoffError.internal("cannot open \(ttyPath)", cause: SystemCallError("open", errno: e, path: ttyPath))
        }
        slave = fd
        (spec.stdin, spec.stdout, spec.stderr) = (.fd(fd), .fd(fd), .fd(fd))
      }
    } else {
      // A stream the client wants is a pipe; one it does not is /dev/null.
      spec.stdin = stdin ? .pipe : .null
      spec.stdout = stdout ? .pipe : .null
      spec.stderr = stderr ? .pipe : .null
    }
    let child: Subprocess.Child
    do { child = try spec.spawn() } catch {
      if let master { close(master) }
      if error.call == "posix_spawn" { throw LiftoffError(.notFound, "cannot run \(path)", cause: error) }
      throw LiftoffError.internal(error.call, cause: error)
    }
    let (pid, stdinWrite, stdoutRead, stderrRead) = (child.pid, child.stdin, child.stdout, child.stderr)
    return HostProcess(pid: pid, tty: tty, ptyMaster: master, stdinWrite: stdinWrite, stdoutRead: stdoutRead, stderrRead: stderrRead)
  }

  /// Waits for the exit; the exit code, or 128 + the signal number.
  func wait() async -> Int32 {
    let pid = self.pid
    let reaped = self.reaped
    // A thread of its own: Dispatch's global queue is only as wide as the CPU count.
    return await runOnThread {
      let status = (try? ProcessControl.wait(pid))?.shellStatus ?? -1
      reaped.set()
      return status
    }
  }

  /// SIGKILL to the process's group (it leads one: its own session or process group), so that what
  /// it started goes too.
  func kill() {
    if !reaped.isSet {
      _ = Glibc.kill(-pid, SIGKILL)
      _ = Glibc.kill(pid, SIGKILL)
    }
  }

  /// Sends `sig` to the process itself (not its group), unless it was reaped.
  func signal(_ sig: Int32) {
    if !reaped.isSet { _ = Glibc.kill(pid, sig) }
  }

  func closeStdin() {
    guard let fd = stdinWrite else { return }
    fds.withLock { list in
      if let i = list.firstIndex(of: fd) {
        close(fd)
        list.remove(at: i)
      }
    }
  }

  func closeAll() {
    fds.withLock { list in
      for fd in list { close(fd) }
      list.removeAll()
    }
  }
}

/// A host process whose output goes to every attached client (and nowhere while none is).
final class AttachableProcess: Sendable {
  let process: HostProcess
  private let subscribers = Mutex<[Int: (out: AsyncStream<[UInt8]>.Continuation, err: AsyncStream<[UInt8]>.Continuation)]>([:])
  private let nextID = Atomic<Int>(0)
  let exited: Task<Int32, Never>
  /// One writer for the process's stdin, shared by the attached clients.
  let stdinWriter: FDWriter?
  private let fanOutTasks = Mutex<[Task<Void, Never>]>([])
  var fanOut: [Task<Void, Never>] { fanOutTasks.withLock { $0 } }

  init(process: HostProcess) {
    self.process = process
    exited = Task { await process.wait() }
    stdinWriter = process.stdinFD.map { FDWriter(fd: $0) }
  }

  func startFanOut() {
    for (pump, isErr) in [(process.stdoutPump, false), (process.stderrPump, true)] {
      guard let pump else { continue }
      let task = Task {
        for await chunk in pump.chunks {
          for (_, s) in subscribers.withLock({ $0 }) { (isErr ? s.err : s.out).yield(chunk) }
          pump.next()
        }
        finishAll(stderr: isErr)
      }
      fanOutTasks.withLock { $0.append(task) }
    }
    if process.stderrPump == nil { finishAll(stderr: true) }
  }

  private let finished = Mutex<(out: Bool, err: Bool)>((false, false))

  private func finishAll(stderr: Bool) {
    finished.withLock { if stderr { $0.err = true } else { $0.out = true } }
    let subs = subscribers.withLock { $0 }
    for (_, s) in subs { (stderr ? s.err : s.out).finish() }
  }

  var subscriberCount: Int { subscribers.withLock { $0.count } }

  /// Both feeds end when the process's output does; the caller unsubscribes when it leaves (an entry
  /// stays until then, so that a feed still open is always finished).
  func subscribe() -> (id: Int, out: AsyncStream<[UInt8]>, err: AsyncStream<[UInt8]>) {
    let (out, outC) = AsyncStream.makeStream(of: [UInt8].self)
    let (err, errC) = AsyncStream.makeStream(of: [UInt8].self)
    let id = nextID.add(1, ordering: .relaxed).newValue
    subscribers.withLock { $0[id] = (outC, errC) }
    let f = finished.withLock { $0 }
    if f.out { outC.finish() }
    if f.err { errC.finish() }
    return (id, out, err)
  }

  func unsubscribe(_ id: Int) {
    let s = subscribers.withLock { $0.removeValue(forKey: id) }
    s?.out.finish()
    s?.err.finish()
  }
}
