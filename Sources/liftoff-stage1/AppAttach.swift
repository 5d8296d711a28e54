// One app's attach socket (apps/<name>/attach.sock; framing in LiftoffCore/AttachProtocol.swift):
// several clients at once, output to all of them, input from any of them to the app's stdin, resize
// to the pty, `stdinOnce`. Everything is non-blocking and driven by the supervisor's poll loop:
// stage1 never waits for a client. Queues are bounded: input is not read from clients while the app's
// stdin has 256 KiB pending, and a client with more than 4 MiB of output pending is dropped.
import Glibc
import LiftoffCore
import LiftoffOS

final class AppAttach {
  final class Client {
    let fd: Int32
    var inbound: [UInt8] = []
    var outbound: [UInt8] = []
    /// Said hello-with-stdin: its stdin closing counts for stdinOnce.
    var writesStdin = false
    var stdinClosed = false
    /// The app ended: close once `outbound` is flushed.
    var closing = false
    init(fd: Int32) { self.fd = fd }
  }

  static let stdinLimit = 256 << 10
  static let clientOutputLimit = 4 << 20

  let app: AppManifest
  let dir: String
  let listenFD: Int32
  var clients: [Int32: Client] = [:]
  /// This side of the app's stdin (nil: no stdin, or closed).
  var stdinFD: Int32?
  var stdinPending: [UInt8] = []
  /// Close stdin once `stdinPending` is written.
  var stdinCloseRequested = false
  /// A duplicate of the pty's master, for resize.
  let ptyFD: Int32?
  /// stdinOnce: the first writer has already closed.
  var firstWriterDone = false
  /// The app's exit status once it ended.
  var exitStatus: Int32?

  init(app: AppManifest, dir: String, stdin: Int32?, pty: Int32?) throws {
    self.app = app
    self.dir = dir
    listenFD = try UnixSocket.listen(dir: dir, name: AttachFrame.socketName)
    stdinFD = stdin
    ptyFD = pty
  }

  // MARK: poll set

  /// The descriptors to poll and for what.
  var pollSet: [pollfd] {
    var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)]
    let acceptInput = stdinPending.count < Self.stdinLimit
    for c in clients.values {
      var events: Int16 = 0
      if acceptInput && !c.closing { events |= Int16(POLLIN) }
      if !c.outbound.isEmpty { events |= Int16(POLLOUT) }
      fds.append(pollfd(fd: c.fd, events: events, revents: 0))
    }
    if let fd = stdinFD, !stdinPending.isEmpty { fds.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)) }
    return fds
  }

  func owns(_ fd: Int32) -> Bool { fd == listenFD || fd == stdinFD || clients[fd] != nil }

  func handle(_ p: pollfd) {
    if p.fd == listenFD {
      acceptAll()
    } else if p.fd == stdinFD {
      flushStdin()
    } else if let c = clients[p.fd] {
      if p.revents & Int16(POLLOUT) != 0 { flush(c) }
      if clients[p.fd] != nil, p.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { readFrom(c) }
    }
  }

  // MARK: clients

  func acceptAll() {
    while true {
      let fd = UnixSocket.accept(listenFD)
      if fd < 0 { return }
      Terminal.setNonBlocking(fd)
      let c = Client(fd: fd)
      clients[fd] = c
      if let status = exitStatus {
        c.outbound = AttachFrame.exit(status).encoded
        c.closing = true
        flush(c)
      }
    }
  }

  func readFrom(_ c: Client) {
    var buf = [UInt8](repeating: 0, count: 65536)
    let n = buf.withUnsafeMutableBytes { read(c.fd, $0.baseAddress, $0.count) }
    if n < 0 && (errno == EINTR || errno == EAGAIN) { return }
    if n < 0 {
      drop(c)
      return
    }
    if n == 0 {
      // The client half-closed: it sends nothing more. It still gets what is queued for it, then the
      // close it awaits (an event, instead of a fixed grace on its side).
      clientStdinClosed(c)
      c.closing = true
      flush(c)
      return
    }
    c.inbound += buf[0..<n]
    var offset = 0
    do {
      while let (frame, used) = try AttachFrame.decode(c.inbound[offset...], direction: .toStage1) {
        offset += used
        apply(frame, from: c)
      }
    } catch {
      Stage1Log.error("app \(app.name): attach client: \(error)")
      drop(c)
      return
    }
    c.inbound.removeFirst(offset)
  }

  func apply(_ frame: AttachFrame, from c: Client) {
    switch frame {
    case .helloWithStdin: c.writesStdin = true
    case .stdin(let bytes):
      guard stdinFD != nil, !stdinCloseRequested else { return }
      stdinPending += bytes
      flushStdin()
    case .stdinClosed: clientStdinClosed(c)
    case .resize(let rows, let cols):
      if let ptyFD { Terminal.setSize(ptyFD, rows: rows, cols: cols) }
    default: break
    }
  }

  /// stdinOnce: the first writer closing its stdin closes the app's — a pipe only. A terminal has no
  /// half-close, and typing an EOT into it would be a keystroke to whatever runs there (an editor in
  /// raw mode, say): as containerd does, a tty app's stdin stays open.
  func clientStdinClosed(_ c: Client) {
    guard c.writesStdin, !c.stdinClosed else { return }
    c.stdinClosed = true
    guard app.stdinOnce, !app.tty, !firstWriterDone else { return }
    firstWriterDone = true
    stdinCloseRequested = true
    flushStdin()
  }

  func drop(_ c: Client) {
    clientStdinClosed(c)
    close(c.fd)
    clients.removeValue(forKey: c.fd)
  }

  func flush(_ c: Client) {
    while !c.outbound.isEmpty {
      let n = c.outbound.withUnsafeBytes { write(c.fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 && errno == EAGAIN { return }
      if n <= 0 {
        drop(c)
        return
      }
      c.outbound.removeFirst(n)
    }
    if c.closing { drop(c) }
  }

  // MARK: the app's side

  func flushStdin() {
    guard let fd = stdinFD else { return }
    while !stdinPending.isEmpty {
      let n = stdinPending.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 && errno == EAGAIN { return }
      if n <= 0 {
        // The app closed its stdin: nothing more can go there.
        stdinPending.removeAll()
        closeStdin()
        return
      }
      stdinPending.removeFirst(n)
    }
    if stdinCloseRequested { closeStdin() }
  }

  func closeStdin() {
    if let fd = stdinFD { close(fd) }
    stdinFD = nil
  }

  /// Output of the app: to every client (the log has it already).
  func broadcast(_ stream: String, _ bytes: ArraySlice<UInt8>) {
    guard !clients.isEmpty, !bytes.isEmpty else { return }
    let frame = (stream == "stderr" ? AttachFrame.stderr(Array(bytes)) : AttachFrame.stdout(Array(bytes))).encoded
    for c in Array(clients.values) where !c.closing {
      if c.outbound.count + frame.count > Self.clientOutputLimit {
        Stage1Log.error("app \(app.name): an attached client is too slow; disconnecting it")
        drop(c)
        continue
      }
      c.outbound += frame
      flush(c)
    }
  }

  /// The app ended (its output is drained): every client gets the exit frame, then is closed once
  /// its output is flushed. Clients that connect later get the exit frame at once.
  func appExited(status: Int32) {
    exitStatus = status
    stdinPending.removeAll()
    closeStdin()
    for c in Array(clients.values) {
      c.outbound += AttachFrame.exit(status).encoded
      c.closing = true
      flush(c)
    }
  }

  /// Closes everything and removes the socket (app removed, pod ending).
  func shutdown() {
    for c in clients.values { close(c.fd) }
    clients.removeAll()
    closeStdin()
    if let ptyFD { close(ptyFD) }
    close(listenFD)
    _ = try? UnixSocket.withDirectory(dir) { (d: String) throws(SystemCallError) in unlink("\(d)/\(AttachFrame.socketName)") }
  }
}
