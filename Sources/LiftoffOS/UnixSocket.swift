// Unix stream sockets for stage1's control socket. Paths under a pod directory are longer than
// sun_path allows, so both ends go through `/proc/self/fd/<dirfd>/<name>`.
import CLinux
import Glibc
import LiftoffCore

public enum UnixSocket {
  static func address(_ path: String) throws(SystemCallError) -> (sockaddr_un, socklen_t) {
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    let cap = MemoryLayout.size(ofValue: addr.sun_path)
    guard bytes.count < cap else { throw SystemCallError("socket path too long", errno: ENAMETOOLONG, path: path) }
    withUnsafeMutableBytes(of: &addr.sun_path) { p in
      for (i, b) in bytes.enumerated() { p[i] = b }
      p[bytes.count] = 0
    }
    return (addr, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1))
  }

  /// Opens `dir` as an O_PATH descriptor; `/proc/self/fd/<fd>/name` then reaches files in it.
  public static func withDirectory<T>(_ dir: String, _ body: (String) throws(SystemCallError) -> T) throws(SystemCallError) -> T {
    let fd = liftoff_open_mode(dir, liftoff_o_path() | O_DIRECTORY | O_CLOEXEC, 0)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: dir) }
    defer { close(fd) }
    return try body("/proc/self/fd/\(fd)")
  }

  /// A listening socket at `dir/name`, mode 0600, non-blocking, close-on-exec. It is bound under a
  /// temporary name and renamed into place once it listens, so a client that sees `name` can connect
  /// (liftoff looks for stage1's control socket before it tries to connect).
  public static func listen(dir: String, name: String) throws(SystemCallError) -> Int32 {
    let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard s >= 0 else { throw SystemCallError("socket", errno: errno) }
    let temporary = ".\(name).tmp-\(getpid())"
    do throws(SystemCallError) {
      try withDirectory(dir) { (d: String) throws(SystemCallError) in
        try bindReplacing(s, "\(d)/\(temporary)", reported: "\(dir)/\(name)")
        guard Glibc.listen(s, 64) == 0 else { throw SystemCallError("listen", errno: errno, path: "\(dir)/\(name)") }
        guard rename("\(d)/\(temporary)", "\(d)/\(name)") == 0 else {
          throw SystemCallError("rename", errno: errno, path: "\(dir)/\(name)")
        }
      }
    } catch {
      close(s)
      try? withDirectory(dir) { (d: String) throws(SystemCallError) in _ = unlink("\(d)/\(temporary)") }
      throw error
    }
    return s
  }

  /// Binds `s` at `path` (whatever was there is unlinked first), mode 0600.
  private static func bindReplacing(_ s: Int32, _ path: String, reported: String) throws(SystemCallError) {
    unlink(path)
    var (addr, len) = try address(path)
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) } }
    guard rc == 0 else { throw SystemCallError("bind", errno: errno, path: reported) }
    chmod(path, 0o600)
  }

  /// A datagram socket bound at `dir/name` (mode 0600; a stale one is replaced), non-blocking,
  /// close-on-exec: where liftoff-cri hears from stage1s that a pod changed (`events.sock`).
  public static func bindDatagram(dir: String, name: String) throws(SystemCallError) -> Int32 {
    let s = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard s >= 0 else { throw SystemCallError("socket", errno: errno) }
    do throws(SystemCallError) {
      try withDirectory(dir) { (d: String) throws(SystemCallError) in
        try bindReplacing(s, "\(d)/\(name)", reported: "\(dir)/\(name)")
      }
    } catch {
      close(s)
      throw error
    }
    return s
  }

  /// Sends one datagram to the socket `dir/name` without blocking; false when nobody listens there
  /// (or its queue is full: the listener rescans from disk anyway).
  @discardableResult
  public static func sendDatagram(dir: String, name: String, _ bytes: [UInt8]) -> Bool {
    let s = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard s >= 0 else { return false }
    defer { close(s) }
    let sent = try? withDirectory(dir) { (d: String) throws(SystemCallError) -> Bool in
      var (addr, len) = try address("\(d)/\(name)")
      let n = bytes.withUnsafeBytes { buf in
        withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(s, buf.baseAddress, buf.count, 0, $0, len) } }
      }
      return n == bytes.count
    }
    return sent ?? false
  }

  /// Connects to `dir/name`; blocking, close-on-exec.
  public static func connect(dir: String, name: String) throws(SystemCallError) -> Int32 {
    let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard s >= 0 else { throw SystemCallError("socket", errno: errno) }
    do throws(SystemCallError) {
      try withDirectory(dir) { (d: String) throws(SystemCallError) in
        var (addr, len) = try address("\(d)/\(name)")
        let rc = withUnsafePointer(to: &addr) {
          $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, len) }
        }
        guard rc == 0 else { throw SystemCallError("connect", errno: errno, path: "\(dir)/\(name)") }
      }
    } catch {
      close(s)
      throw error
    }
    return s
  }

  /// Reads until a newline or EOF (at most `limit` bytes). Blocking sockets only.
  public static func readLine(_ fd: Int32, limit: Int = 1 << 20) throws(SystemCallError) -> [UInt8] {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while out.count < limit {
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw SystemCallError("read", errno: errno)
      }
      if n == 0 { break }
      if let nl = buf[0..<n].firstIndex(of: 0x0A) {
        out.append(contentsOf: buf[0..<nl])
        return out
      }
      out.append(contentsOf: buf[0..<n])
    }
    return out
  }

  /// Accepts one connection (close-on-exec); -1 when none is pending on a non-blocking socket.
  public static func accept(_ fd: Int32) -> Int32 { liftoff_accept_cloexec(fd) }

  /// Sets a receive/send timeout on a socket.
  public static func setTimeout(_ fd: Int32, seconds: Int) {
    var tv = timeval(tv_sec: seconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
  }

  /// One request/response exchange with stage1 (see LiftoffCore/Stage1Protocol.swift).
  public static func call(dir: String, name: String = "control.sock", _ request: Stage1Request, timeoutSeconds: Int = 30)
    throws(LiftoffError) -> Stage1Response
  {
    let fd: Int32
    do { fd = try connect(dir: dir, name: name) } catch {
      throw LiftoffError(.unavailable, "stage1 control socket \(dir)/\(name) not reachable", cause: error)
    }
    defer { close(fd) }
    setTimeout(fd, seconds: timeoutSeconds)
    do {
      try FileSystem.writeAll(fd, Array((request.json.serialized() + "\n").utf8))
      let line = try readLine(fd)
      guard !line.isEmpty else { throw LiftoffError(.unavailable, "stage1 closed the control socket without answering") }
      return try Stage1Response(json: JSON.parse(bytes: line))
    } catch let e as SystemCallError {
      throw LiftoffError(.unavailable, "stage1 control socket \(dir)/\(name)", cause: e)
    } catch let e as LiftoffError {
      throw e
    } catch {
      throw LiftoffError(.internal, "stage1 control socket: \(error)")
    }
  }
}
