// An app's stdout and stderr, read by stage1 from pipes (or a pty's master) and written to the app's
// log file in the CRI format (LiftoffCore/CRILog.swift) and to its attached clients (AppAttach). The file is opened with O_APPEND and can be reopened
// (kubelet rotates it, then asks ReopenContainerLog) without losing a line: records are built in
// memory and written whole.
import Glibc
import LiftoffCore
import LiftoffOS

final class AppLog {
  let app: String
  /// nil: no log file (the output only goes to attached clients).
  let path: String?
  var fileFD: Int32 = -1
  /// The app's attach socket: every chunk read also goes there.
  var attach: AppAttach?
  /// Open pipe read ends with their splitters, by fd.
  var streams: [Int32: CRILogSplitter] = [:]

  /// The stream name of each fd (the splitters know it too).
  var names: [Int32: String] = [:]

  init(app: String, path: String?, output: [(stream: String, fd: Int32)]) throws {
    self.app = app
    self.path = path
    for o in output {
      streams[o.fd] = CRILogSplitter(stream: o.stream)
      names[o.fd] = o.stream
    }
    if path != nil { try open() }
  }

  func open() throws {
    guard let path else { return }
    try FileSystem.makeDirectories(FileSystem.parent(of: path))
    let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: path) }
    if fileFD >= 0 { close(fileFD) }
    fileFD = fd
  }

  /// Reads what is available on `fd`; returns false when the stream ended (and is closed).
  @discardableResult
  func pump(_ fd: Int32) -> Bool {
    guard var splitter = streams[fd] else { return false }
    var buf = [UInt8](repeating: 0, count: 65536)
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if n < 0 && (errno == EINTR || errno == EAGAIN) { return true }
    let now = Clock.nowRFC3339()
    if n > 0 {
      attach?.broadcast(names[fd] ?? "stdout", buf[0..<n])
      write(splitter.feed(buf[0..<n], timestamp: now))
      streams[fd] = splitter
      return true
    }
    write(splitter.finish(timestamp: now))
    streams.removeValue(forKey: fd)
    names.removeValue(forKey: fd)
    close(fd)
    return false
  }

  /// Reads every stream to its end (the app has exited), waiting at most `timeout` seconds for
  /// output still in flight from its last processes.
  func drain(timeout: Double) {
    let deadline = Clock.monotonic() + timeout
    while !streams.isEmpty {
      let left = deadline - Clock.monotonic()
      if left <= 0 { break }
      var fds = streams.keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
      let n = poll(&fds, nfds_t(fds.count), Int32(left * 1000) + 1)
      if n <= 0 { if n < 0 && errno == EINTR { continue } else { break } }
      for p in fds where p.revents != 0 { pump(p.fd) }
    }
    closeAll()
  }

  func closeAll() {
    let now = Clock.nowRFC3339()
    for (fd, var s) in streams {
      write(s.finish(timestamp: now))
      close(fd)
    }
    streams.removeAll()
  }

  func write(_ bytes: [UInt8]) {
    guard !bytes.isEmpty, fileFD >= 0 else { return }
    do { try FileSystem.writeAll(fileFD, bytes, path: path) } catch { Stage1Log.error("app \(app): log: \(error)") }
  }

  deinit {
    closeAll()
    if fileFD >= 0 { close(fileFD) }
  }
}
