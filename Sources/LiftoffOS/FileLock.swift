// flock(2) on a directory: how Liftoff knows who owns a pod. Stage0 holds the pod directory's lock
// while it creates or prepares a pod; stage1 inherits it across exec and holds it for the pod's whole
// life, so "exited" is simply "the lock can be taken". Locks follow the open file description, so
// they survive rename(2) of the directory and die with the last process holding the descriptor.
import CLinux
import Glibc
import LiftoffCore

public final class FileLock {
  public let fd: Int32
  public let path: String

  /// Opens `path` (a directory or file) without taking a lock.
  public init(path: String) throws(SystemCallError) {
    let fd = liftoff_open_mode(path, O_RDONLY | O_CLOEXEC, 0)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: path) }
    self.fd = fd
    self.path = path
  }

  /// Adopts an inherited descriptor (stage1 receives the pod lock from stage0).
  public init(adopting fd: Int32, path: String) {
    self.fd = fd
    self.path = path
  }

  deinit { close(fd) }

  /// Takes the lock; false when `blocking` is false and someone else holds it.
  @discardableResult
  public func lock(exclusive: Bool = true, blocking: Bool = false) throws(SystemCallError) -> Bool {
    let op = (exclusive ? LOCK_EX : LOCK_SH) | (blocking ? 0 : LOCK_NB)
    while flock(fd, op) != 0 {
      if errno == EINTR { continue }
      if errno == EWOULDBLOCK { return false }
      throw SystemCallError("flock", errno: errno, path: path)
    }
    return true
  }

  public func unlock() { flock(fd, LOCK_UN) }

  /// Keeps the descriptor open across execve (stage0 → stage1).
  public func setInheritable(_ on: Bool) throws(SystemCallError) {
    let flags = fcntl(fd, F_GETFD)
    guard flags >= 0, fcntl(fd, F_SETFD, on ? flags & ~FD_CLOEXEC : flags | FD_CLOEXEC) == 0 else {
      throw SystemCallError("fcntl", errno: errno, path: path)
    }
  }

  /// Takes the lock exclusively, trying again for up to `seconds`: a reader's momentary shared lock
  /// (isHeld below, which status and listing code take all the time) must not pass for an owner, as
  /// stage1 or a command removing the pod is. False when it is still held after that.
  public func lockExclusive(within seconds: Double) throws(SystemCallError) -> Bool {
    let deadline = Clock.monotonic() + seconds
    var interval = PollInterval()
    while true {
      if try lock(exclusive: true, blocking: false) { return true }
      if Clock.monotonic() >= deadline { return false }
      interval.sleep()
    }
  }

  /// Is the lock on `path` held by someone (tested with a shared non-blocking lock on a new open)?
  public static func isHeld(_ path: String) throws(SystemCallError) -> Bool {
    let l = try FileLock(path: path)
    return !(try l.lock(exclusive: false, blocking: false))
  }
}
