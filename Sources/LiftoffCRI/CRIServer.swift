// liftoff-cri's listener: one instance per socket, the socket root-only, the gRPC server on it.
//
//   start:  mkdir socket dir ─ flock <socket>.lock (held for life; a second instance fails here)
//           ─ unlink a stale socket ─ bind with umask 0117 (so it is never world-accessible)
//             — or, socket-activated (liftoff-cri.socket), adopt the listening socket systemd passed:
//             bound at the configured path, root's, closed to others; systemd owns its file
//           ─ streaming server listens (stream-address:stream-port), and the metrics endpoint
//             (metrics-address) when configured
//           ─ signal handlers ─ serve (NIO listens) RuntimeService + ImageService (LiftoffRPC's server)
//           ─ READY=1 to systemd once NIO listens (Type=notify; SystemdNotify, only with $NOTIFY_SOCKET)
//   stop:   SIGTERM/SIGINT → STOPPING=1 to systemd → graceful shutdown → streaming sessions end (their clients are told)
//           → unlink the socket (if it is still ours and not systemd's) → exit 0
//   crash:  SIGKILL leaves a socket file and a lock file; the kernel drops the flock, so the next start
//           takes the lock and replaces the stale socket. No pod is affected: none is our child.
import Foundation
import LiftoffRPC
import LiftoffCore
import LiftoffOS
import Logging
import NIOCore
import NIOPosix

public final class CRIServer: Sendable {
  public let runtime: CRIRuntime
  /// The service manager to tell READY=1 and STOPPING=1 (a `Type=notify` unit), or nil.
  public let notify: SystemdNotify?
  /// The descriptors systemd passed (`liftoff-cri.socket`): the CRI socket is among them, already
  /// bound and listening; nil when liftoff-cri binds its socket itself.
  public let activation: SocketActivation?

  public init(runtime: CRIRuntime, notify: SystemdNotify? = nil, activation: SocketActivation? = nil) {
    self.runtime = runtime
    self.notify = notify
    self.activation = activation
  }

  /// Sends a notification to systemd; a failure is logged and changes nothing else.
  func tellServiceManager(_ state: String) {
    guard let notify else { return }
    do { try notify.send(state) } catch {
      runtime.logger.warning("cannot notify systemd", metadata: ["state": "\(state)", "error": "\(error)"])
    }
  }

  /// Runs until SIGTERM or SIGINT, then shuts down gracefully and removes the socket.
  /// Runs Swift concurrency's jobs on NIO's event loops (the threads gRPC's transport reads and writes
  /// on) instead of a second pool: an RPC then no longer hops between the two, which cost ~17 thread
  /// switches per unary RPC (4.5 after) and ~10% of liftoff-cri's CPU per call (hack/bench-reads.py,
  /// perf stat). Blocking work never runs on these threads: subprocesses, unpacking and the pod index
  /// have threads of their own (runOnThread, PodIndex). Needs the runtime's hook exported
  /// (Package.swift: liftoff-cri's linker settings); false when it is not there, and nothing changes.
  public static func tasksOnEventLoops() -> Bool {
    NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
  }

  public func run() async throws {
    let config = runtime.config
    let logger = runtime.logger
    // Root's alone, tightened where an older install left them 0711/0755 (PodStore and ImageStore
    // do the same for `liftoff` and `liftoff-image`).
    for dir in [config.dir, runtime.imagesDir, runtime.podsDir] {
      do { try FileSystem.makePrivateDirectory(dir) } catch {
        throw LiftoffError.internal("cannot create directory \(dir)", cause: error)
      }
    }
    let socketDir = (config.socket as NSString).deletingLastPathComponent
    try makeDirectory(socketDir, mode: 0o711)
    let lock = try InstanceLock(path: config.socket + ".lock")
    defer { lock.release() }
    let listener = try activation.map { try UnixListener.adopt($0, path: config.socket) }
      ?? UnixListener.bind(path: config.socket)
    // The pod index: listening first, then read from disk, so that no stage1's word falls between.
    do {
      try runtime.index.startWatching(dir: config.dir, logger: logger)
      try runtime.index.reload()
    } catch {
      listener.removeSocketFileIfOurs()
      throw LiftoffError.internal("cannot start the pod index on \(config.dir)", cause: error)
    }

    let metricsServer = config.metricsEndpoint.map { endpoint in
      MetricsServer(host: endpoint.host, port: endpoint.port, logger: logger) { [runtime] in runtime.renderMetrics() }
    }
    do {
      try await runtime.streaming.start()
      try await metricsServer?.start()
    } catch {
      await runtime.streaming.shutdown()
      listener.removeSocketFileIfOurs()
      throw error
    }

    let server = RPCServer(methods: Self.methods(runtime: runtime), statusOf: Self.status(of:))

    let signals = SignalWatcher(signals: [SIGTERM, SIGINT]) { signal in
      logger.info("shutting down", metadata: ["signal": "\(signal)"])
      self.tellServiceManager("STOPPING=1\nSTATUS=shutting down")
      server.beginGracefulShutdown()
    }
    defer { signals.cancel() }

    logger.info(
      "liftoff-cri listening",
      metadata: [
        "socket": "\(config.socket)", "dir": "\(config.dir)", "version": "\(LiftoffVersion.version)",
        "stream": "\(runtime.streaming.baseURL)", "socket-activated": "\(activation != nil)",
      ])
    defer { listener.removeSocketFileIfOurs() }
    let trimming = Task { await runtime.trimmer.run() }
    defer { trimming.cancel() }
    do {
      // ready: the socket listens.
      try await server.serve(listeningSocket: listener.fd) {
        self.tellServiceManager("READY=1\nSTATUS=serving \(config.socket)")
      }
    } catch {
      await runtime.streaming.shutdown()
      await metricsServer?.shutdown()
      throw error
    }
    await runtime.streaming.shutdown()
    await metricsServer?.shutdown()
    logger.info("liftoff-cri stopped")
  }
}

/// mkdir -p with a mode for the directories it creates.
func makeDirectory(_ path: String, mode: mode_t) throws {
  var isDir: ObjCBool = false
  if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
    guard isDir.boolValue else { throw LiftoffError.invalidArgument("\(path) exists and is not a directory") }
    return
  }
  do {
    try FileManager.default.createDirectory(
      atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: Int(mode)])
  } catch {
    throw LiftoffError.internal("cannot create directory \(path): \(error.localizedDescription)")
  }
}

/// An exclusive flock on `<socket>.lock`, held for the server's life. The kernel releases it when the
/// process dies in any way, so a crash never blocks the next start.
final class InstanceLock: Sendable {
  let fd: Int32
  let path: String

  init(path: String) throws {
    self.path = path
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw LiftoffError.internal("cannot open lock file \(path)", cause: SystemCallError("open", errno: errno, path: path)) }
    guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
      let e = errno
      var buffer = [UInt8](repeating: 0, count: 32)
      let n = pread(fd, &buffer, buffer.count, 0)
      let holder = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
      close(fd)
      if e == EWOULDBLOCK {
        throw LiftoffError(.alreadyExists, "another liftoff-cri (pid \(holder)) is serving \(path.dropLast(5)); refusing to take its socket")
      }
      throw LiftoffError.internal("cannot lock \(path)", cause: SystemCallError("flock", errno: e, path: path))
    }
    let pid = "\(getpid())\n"
    _ = ftruncate(fd, 0)
    _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
  }

  func release() {
    close(fd)
  }
}

/// A Unix stream socket bound with mode 0660 (root only: the CRI socket gives full control
/// of the node's containers), or the one systemd bound and passed (then systemd owns its file).
struct UnixListener: Sendable {
  let fd: Int32
  let path: String
  let inode: UInt64
  /// Whether liftoff-cri made the socket file, and so removes it when it stops.
  var ownsFile = true

  /// The CRI socket among the descriptors systemd passed: a listening AF_UNIX stream socket bound at
  /// `path` (the configured socket), owned by root and closed to others — as liftoff-cri binds its own.
  static func adopt(_ activation: SocketActivation, path: String) throws -> UnixListener {
    let candidates = activation.descriptors.compactMap { fd in SocketActivation.listeningUnixPath(fd).map { (fd, $0) } }
    guard !candidates.isEmpty else {
      throw LiftoffError.invalidArgument(
        "socket activation: none of the \(activation.count) descriptors passed (LISTEN_FDS) is a listening Unix stream socket")
    }
    guard let (fd, bound) = candidates.first(where: { $0.1 == path }) ?? (candidates.count == 1 ? candidates[0] : nil),
      bound == path
    else {
      let paths = candidates.map(\.1).joined(separator: ", ")
      throw LiftoffError.invalidArgument(
        "socket activation: the socket passed is bound at \(paths), but the configured socket is \(path) "
          + "(make the .socket unit's ListenStream= and liftoff-cri's socket the same path)")
    }
    var st = stat()
    guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK else {
      throw LiftoffError.invalidArgument("socket activation: \(path) is not a socket on the filesystem")
    }
    guard st.st_uid == 0, st.st_mode & 0o007 == 0 else {
      throw LiftoffError.invalidArgument(
        "socket activation: \(path) (mode \(String(st.st_mode & 0o7777, radix: 8)), owner \(st.st_uid)) is open to "
          + "others than root; the CRI socket controls every container of the node: set SocketMode=0660 "
          + "(or 0600) and SocketUser=root in the .socket unit")
    }
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    return UnixListener(fd: fd, path: path, inode: UInt64(st.st_ino), ownsFile: false)
  }

  static func bind(path: String) throws -> UnixListener {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard path.utf8.count < capacity else {
      throw LiftoffError.invalidArgument("socket path \(path) is longer than \(capacity - 1) bytes")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      raw.copyBytes(from: path.utf8)
      raw[path.utf8.count] = 0
    }
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw LiftoffError.internal("socket", cause: SystemCallError("socket", errno: errno)) }
    // A stale socket from a killed server (we hold the instance lock, so it is nobody's).
    if unlink(path) != 0 && errno != ENOENT {
      let e = errno
      close(fd)
      throw LiftoffError.internal("cannot remove stale socket", cause: SystemCallError("unlink", errno: e, path: path))
    }
    let oldMask = umask(0o117)
    let rc = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    let bindErrno = errno
    umask(oldMask)
    guard rc == 0 else {
      close(fd)
      throw LiftoffError.internal("cannot bind the CRI socket", cause: SystemCallError("bind", errno: bindErrno, path: path))
    }
    // No listen() here: NIO listens when the server starts serving, after the signal handlers are in
    // place, so a client can never connect to a server that SIGTERM would kill uncleanly.
    guard chmod(path, 0o660) == 0 else {
      let e = errno
      close(fd)
      throw LiftoffError.internal("cannot chmod the CRI socket", cause: SystemCallError("chmod", errno: e, path: path))
    }
    var st = stat()
    _ = stat(path, &st)
    return UnixListener(fd: fd, path: path, inode: UInt64(st.st_ino))
  }

  /// Removes the socket file, unless another process has replaced it since (or systemd made it).
  func removeSocketFileIfOurs() {
    guard ownsFile else { return }
    var st = stat()
    if stat(path, &st) == 0 && UInt64(st.st_ino) == inode {
      unlink(path)
    }
  }
}

/// Calls `handler` on SIGTERM/SIGINT (the default action of those signals is disabled meanwhile).
final class SignalWatcher: @unchecked Sendable {
  // Set once in init, only read afterwards (cancel).
  private let sources: [any DispatchSourceSignal]

  init(signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
    sources = signals.map { sig in
      signal(sig, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
      source.setEventHandler { handler(sig) }
      source.resume()
      return source
    }
  }

  func cancel() {
    for s in sources { s.cancel() }
  }
}
