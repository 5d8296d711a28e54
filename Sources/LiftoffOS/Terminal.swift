// Pseudo-terminals for apps with a tty: stage1 holds the master; the slave becomes the app's stdin,
// stdout, stderr and controlling terminal.
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
