// The attach protocol between an attaching client (liftoff-cri's streaming backend) and stage1, on
// a running app's stdio (mutable pods, apps with a tty, a stdin, or a log: their output passes
// through stage1).
//
//   client (liftoff-cri, one per attach session)       stage1 (pods/run/<id>/)
//   ─────────────────────────────────────────────       ───────────────────────────────────────────
//   connect(apps/<name>/attach.sock) ──────────────────▶ accept (poll loop, single-threaded)
//   [hello: stdin]                    ──────────────────▶ this client's stdin counts for stdinOnce
//   stdin bytes, resize, stdin close  ──────────────────▶ app's stdin (pipe, or the pty's master);
//                                                        TIOCSWINSZ on the pty
//                                     ◀────────────────── stdout / stderr bytes (tty: all on stdout),
//                                                        the same to every client and to the log
//                                     ◀────────────────── exit (the app ended), then close
//
// Every message is one frame: a type byte, a 4-byte big-endian payload length, the payload
// (at most 1 MiB). Frame types:
//   client → stage1   1 stdin (bytes)   2 stdin closed (empty)   3 resize (rows, cols: 2 × UInt16 BE)
//                     4 hello with stdin (empty; sent first by a client that will write stdin)
//   stage1 → client   1 stdout (bytes)  2 stderr (bytes)          5 exit (Int32 BE exit status)
// Several clients may attach at once; output written while none is attached goes only to the log.
// `stdinOnce` apps without a tty: when the first client that said hello-with-stdin closes its stdin
// (frame 2 or disconnect), stage1 closes the app's stdin (a terminal has no half-close: a tty app's
// stdin stays open, as in containerd). A client too slow to take its output (more than 4 MiB
// queued) is disconnected rather than stalling the pod. A client that half-closes (shutdown SHUT_WR:
// it sends nothing more) gets what is queued for it, then stage1's close; liftoff-cri ends a session
// so when the client's stdin ends it (not stdinOnce, or a tty). The socket is bound and reached through
// `/proc/self/fd/<dirfd>/attach.sock`, mode 0600 (root only), like stage1's control socket.

public enum AttachFrame: Sendable, Equatable {
  case stdin([UInt8])
  case stdinClosed
  case resize(rows: UInt16, cols: UInt16)
  case helloWithStdin
  case stdout([UInt8])
  case stderr([UInt8])
  case exit(Int32)

  public static let maxPayload = 1 << 20
  public static let socketName = "attach.sock"

  var type: UInt8 {
    switch self {
    case .stdin, .stdout: 1
    case .stdinClosed, .stderr: 2
    case .resize: 3
    case .helloWithStdin: 4
    case .exit: 5
    }
  }

  var payload: [UInt8] {
    switch self {
    case .stdin(let b), .stdout(let b), .stderr(let b): return b
    case .stdinClosed, .helloWithStdin: return []
    case .resize(let r, let c): return [UInt8(r >> 8), UInt8(r & 0xff), UInt8(c >> 8), UInt8(c & 0xff)]
    case .exit(let s):
      let u = UInt32(bitPattern: s)
      return [UInt8(u >> 24), UInt8((u >> 16) & 0xff), UInt8((u >> 8) & 0xff), UInt8(u & 0xff)]
    }
  }

  /// The frame's bytes on the wire.
  public var encoded: [UInt8] {
    let p = payload
    let n = UInt32(p.count)
    return [type, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + p
  }

  /// Which side a frame is decoded for: types overlap between the directions.
  public enum Direction: Sendable { case toStage1, toClient }

  /// Decodes one frame from the front of `buffer`: the frame and the bytes it took, nil when more bytes
  /// are needed. Throws on an unknown type, an oversized or malformed payload.
  public static func decode(_ buffer: ArraySlice<UInt8>, direction: Direction) throws(LiftoffError) -> (AttachFrame, Int)? {
    guard buffer.count >= 5 else { return nil }
    let s = buffer.startIndex
    let type = buffer[s]
    let n = Int(buffer[s + 1]) << 24 | Int(buffer[s + 2]) << 16 | Int(buffer[s + 3]) << 8 | Int(buffer[s + 4])
    guard n <= maxPayload else { throw .invalidArgument("attach frame of \(n) bytes exceeds \(maxPayload)") }
    guard buffer.count >= 5 + n else { return nil }
    let p = Array(buffer[(s + 5)..<(s + 5 + n)])
    let frame: AttachFrame
    switch (direction, type) {
    case (.toStage1, 1): frame = .stdin(p)
    case (.toStage1, 2): frame = .stdinClosed
    case (.toStage1, 3):
      guard p.count == 4 else { throw .invalidArgument("attach resize frame needs 4 bytes, got \(p.count)") }
      frame = .resize(rows: UInt16(p[0]) << 8 | UInt16(p[1]), cols: UInt16(p[2]) << 8 | UInt16(p[3]))
    case (.toStage1, 4): frame = .helloWithStdin
    case (.toClient, 1): frame = .stdout(p)
    case (.toClient, 2): frame = .stderr(p)
    case (.toClient, 5):
      guard p.count == 4 else { throw .invalidArgument("attach exit frame needs 4 bytes, got \(p.count)") }
      frame = .exit(Int32(bitPattern: UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])))
    default: throw .invalidArgument("unknown attach frame type \(type)")
    }
    return (frame, 5 + n)
  }
}
