// An app's stdout and stderr, read by stage1 from pipes (or a pty's master) and written to the app's
// log file in the CRI format (LiftoffCore/CRILog.swift) and to its attached clients (AppAttach). The file is opened with O_APPEND and can be reopened
// (kubelet rotates it, then asks ReopenContainerLog) without losing a line: records are built in
// memory and written whole.
//
// A full disk (or any failed write) never blocks the app and never leaves a torn record: the pipes are
// still read, what cannot be written is dropped and counted, a record cut short is taken back
// (ftruncate to where it began: stage1 is the file's only writer), the failure is reported once, and
// writing resumes with the next record once the disk has room again.
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
  /// Bytes of records dropped since writes began to fail (0: the log is being written).
  private(set) var dropped = 0

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
      // The log first: whatever a client has seen is on disk.
      write(splitter.feed(buf[0..<n], timestamp: now))
      attach?.broadcast(names[fd] ?? "stdout", buf[0..<n])
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

  /// Writes whole records, or none of them (see the top of the file).
  func write(_ bytes: [UInt8]) {
    guard !bytes.isEmpty, fileFD >= 0 else { return }
    var done = 0
    while done < bytes.count {
      let n = bytes[done...].withUnsafeBytes { Glibc.write(fileFD, $0.baseAddress, $0.count) }
      if n > 0 {
        done += n
        continue
      }
      if n < 0 && errno == EINTR { continue }
      let err = n < 0 ? errno : ENOSPC
      if done > 0 {
        // Part of the records went in: take it back, so that the file holds only whole records.
        var st = stat()
        if fstat(fileFD, &st) == 0 { _ = ftruncate(fileFD, st.st_size - off_t(done)) }
      }
      if dropped == 0 {
        Stage1Log.error("app \(app): log \(path ?? ""): \(String(cString: strerror(err))); its output is dropped until the log can be written again")
      }
      dropped += bytes.count
      return
    }
    if dropped > 0 {
      Stage1Log.error("app \(app): log \(path ?? "") written again; \(dropped) bytes of records were dropped")
      dropped = 0
    }
  }

  deinit {
    closeAll()
    if fileFD >= 0 { close(fileFD) }
  }
}
