// Pseudo-terminals for apps with a tty: stage1 holds the master; the slave becomes the app's stdin,
// stdout, stderr and controlling terminal. In a pod with its own devpts (flavor default) the pty comes
// from the container's /dev/ptmx, opened by the app's process once inside, and the master is passed
// back to stage1 over a socket pair (as runc's console socket), so ttyname() works in the app.
import CLinux
import Glibc
import LiftoffCore

public enum Terminal {
  /// A new pty pair: the master (close-on-exec, non-blocking) and the slave (close-on-exec, not made
  /// the caller's controlling terminal).
  public static func openPair() throws(SystemCallError) -> (master: Int32, slave: Int32) {
    var m: Int32 = -1
    var name = [CChar](repeating: 0, count: 64)
    let rc = liftoff_open_pty(&m, &name, name.count)
    guard rc == 0 else { throw SystemCallError("posix_openpt", errno: rc) }
    setNonBlocking(m)
    let path = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let s = liftoff_open_mode(path, O_RDWR | O_NOCTTY | O_CLOEXEC, 0)
    guard s >= 0 else {
      let e = errno
      close(m)
      throw SystemCallError("open", errno: e, path: path)
    }
    return (m, s)
  }

  /// A new pty pair from the devpts instance of `ptmx` (a container's own /dev/ptmx, once inside its
  /// mount namespace and root): both close-on-exec, blocking.
  public static func openPair(ptmx: String) throws(SystemCallError) -> (master: Int32, slave: Int32) {
    var m: Int32 = -1, s: Int32 = -1
    guard liftoff_open_pty_at(ptmx, &m, &s) == 0 else { throw SystemCallError("open pty", errno: errno, path: ptmx) }
    return (m, s)
  }

  /// A connected pair of Unix stream sockets (close-on-exec), to pass a descriptor across a fork.
  public static func socketPair() throws(SystemCallError) -> (Int32, Int32) {
    var fds: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
      throw SystemCallError("socketpair", errno: errno)
    }
    return (fds[0], fds[1])
  }

  /// Sends a descriptor over a Unix socket (SCM_RIGHTS).
  public static func send(_ fd: Int32, over socket: Int32) throws(SystemCallError) {
    guard liftoff_send_fd(socket, fd) == 0 else { throw SystemCallError("sendmsg SCM_RIGHTS", errno: errno) }
  }

  /// Receives a descriptor sent with `send` (close-on-exec).
  public static func receive(from socket: Int32) throws(SystemCallError) -> Int32 {
    let fd = liftoff_recv_fd(socket)
    guard fd >= 0 else { throw SystemCallError("recvmsg SCM_RIGHTS", errno: errno) }
    return fd
  }

  /// Makes `fd` (a terminal) the controlling terminal of the calling session leader.
  public static func makeControlling(_ fd: Int32) throws(SystemCallError) {
    guard liftoff_set_ctty(fd) == 0 else { throw SystemCallError("ioctl TIOCSCTTY", errno: errno) }
  }

  /// TIOCSWINSZ.
  public static func setSize(_ fd: Int32, rows: UInt16, cols: UInt16) {
    _ = liftoff_set_winsize(fd, rows, cols)
  }

  /// A close-on-exec duplicate of `fd` (it shares the file status flags, O_NONBLOCK included).
  public static func duplicate(_ fd: Int32) -> Int32 { fcntl(fd, F_DUPFD_CLOEXEC, 0) }

  /// Sets O_NONBLOCK on a descriptor.
  public static func setNonBlocking(_ fd: Int32) {
    let flags = fcntl(fd, F_GETFL)
    if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
  }
}
