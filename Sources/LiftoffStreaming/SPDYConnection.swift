// One SPDY/3.1 session over a byte transport, as either end: the server accepts the streams a client
// opens (kubelet's streaming server, here), the client opens them (client-go, and the tests).
//
//   reader task:  frames in → streams' inbound data, SYN_REPLY/PING/WINDOW_UPDATE/RST/GOAWAY handling
//   any task:     stream.write / closeWrite / reset → frames out, whole frames in order (AsyncSerial),
//                 header blocks compressed in send order (one zlib stream per direction)
//
// Flow control (SPDY/3.1): send windows per stream and for the session start at 64 KiB. moby/spdystream,
// which kubectl, crictl and kubelet use, neither sends WINDOW_UPDATE nor honours it, so the send windows
// are enforced only once the peer has shown it does flow control (sent a WINDOW_UPDATE or a SETTINGS
// with INITIAL_WINDOW_SIZE); a flow-controlling peer sends its first WINDOW_UPDATE long before 64 KiB are
// in flight. This side sends WINDOW_UPDATE for what its consumers have read.
import Synchronization

final class SPDYConnection: Sendable {
  enum Role: Sendable { case client, server }

  static let defaultWindow = 65536
  static let maxDataFrame = 16384
  static let maxFrameLength = 1 << 24 - 1

  let role: Role
  let writer: any ByteWriter
  let sendsWindowUpdates: Bool
  private let serial = AsyncSerial()
  // Used only inside `serial`, so frames leave in the order their header blocks were compressed.
  nonisolated(unsafe) private let deflater: SPDYHeaderDeflater
  // Used only by the reader task.
  nonisolated(unsafe) private let inflater: SPDYHeaderInflater

  let incoming: AsyncStream<SPDYStream>
  private let incomingContinuation: AsyncStream<SPDYStream>.Continuation

  struct State {
    var streams: [UInt32: SPDYStream] = [:]
    var nextStreamID: UInt32
    var lastPeerStreamID: UInt32 = 0
    var peerFlowControl = false
    var initialSendWindow = SPDYConnection.defaultWindow
    var sessionSendWindow = SPDYConnection.defaultWindow
    var closed = false
    var goAwayReceived = false
    var replyWaiters: [UInt32: CheckedContinuation<SPDYHeaders, any Error>] = [:]
    var windowWaiters: [CheckedContinuation<Void, Never>] = []
    var pingWaiters: [UInt32: CheckedContinuation<Void, any Error>] = [:]
    var nextPingID: UInt32
  }
  let state: Mutex<State>

  init(role: Role, writer: any ByteWriter, sendsWindowUpdates: Bool = true) throws {
    self.role = role
    self.writer = writer
    self.sendsWindowUpdates = sendsWindowUpdates
    deflater = try SPDYHeaderDeflater()
    inflater = try SPDYHeaderInflater()
    (incoming, incomingContinuation) = AsyncStream.makeStream(of: SPDYStream.self)
    state = Mutex(State(nextStreamID: role == .client ? 1 : 2, nextPingID: role == .client ? 1 : 2))
  }

  var isClosed: Bool { state.withLock { $0.closed } }

  // MARK: sending

  func send(_ frame: SPDYFrame) async throws {
    try await serial.run {
      let bytes = try frame.encode(deflater: self.deflater)
      try await self.writer.write(bytes)
    }
  }

  /// Opens a stream (client role) and waits for the peer's SYN_REPLY.
  func openStream(headers: SPDYHeaders, fin: Bool = false) async throws -> SPDYStream {
    let stream: SPDYStream = try await serial.run {
      let stream = try self.state.withLock { s -> SPDYStream in
        guard !s.closed, !s.goAwayReceived else { throw SPDYError.connectionClosed }
        let id = s.nextStreamID
        s.nextStreamID += 2
        let stream = SPDYStream(id: id, headers: headers, connection: self, sendWindow: s.initialSendWindow)
        s.streams[id] = stream
        return stream
      }
      let frame = SPDYFrame.synStream(
        streamID: stream.id, associatedTo: 0, priority: 0, flags: fin ? SPDYFrame.flagFin : 0, headers: headers)
      try await self.writer.write(try frame.encode(deflater: self.deflater))
      return stream
    }
    if fin { stream.markLocalClosed() }
    _ = try await withCheckedThrowingContinuation { (c: CheckedContinuation<SPDYHeaders, any Error>) in
      let ok = state.withLock { s -> Bool in
        if s.closed { return false }
        if stream.replied { return false }
        s.replyWaiters[stream.id] = c
        return true
      }
      if !ok {
        if stream.replied { c.resume(returning: SPDYHeaders()) } else { c.resume(throwing: SPDYError.connectionClosed) }
      }
    }
    return stream
  }

  /// Sends a PING and waits for its echo.
  func ping() async throws {
    let id = state.withLock { s -> UInt32 in
      let id = s.nextPingID
      s.nextPingID &+= 2
      return id
    }
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
      let ok = state.withLock { s -> Bool in
        if s.closed { return false }
        s.pingWaiters[id] = c
        return true
      }
      if !ok { c.resume(throwing: SPDYError.connectionClosed) }
      else {
        Task { try? await self.send(.ping(id: id)) }
      }
    }
  }

  /// GOAWAY: no new streams; the streams already open go on.
  func goAway() async {
    let last = state.withLock { $0.lastPeerStreamID }
    try? await send(.goAway(lastGoodStreamID: last, status: 0))
  }

  /// Data on a stream, split into frames and, when the peer does flow control, within its windows.
  func sendData(_ stream: SPDYStream, _ bytes: [UInt8], fin: Bool) async throws {
    var offset = 0
    repeat {
      var n = min(bytes.count - offset, Self.maxDataFrame)
      if n > 0 {
        while true {
          let granted: Int? = try state.withLock { s in
            if s.closed { throw SPDYError.connectionClosed }
            if stream.isReset { throw SPDYError.streamReset(stream.id) }
            let window = min(stream.sendWindow, s.sessionSendWindow)
            if s.peerFlowControl && window <= 0 { return nil }
            let grant = s.peerFlowControl ? min(n, window) : n
            stream.sendWindow -= grant
            s.sessionSendWindow -= grant
            return grant
          }
          if let granted {
            n = granted
            break
          }
          await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let wait = state.withLock { s -> Bool in
              if s.closed || stream.isReset || min(stream.sendWindow, s.sessionSendWindow) > 0 { return false }
              s.windowWaiters.append(c)
              return true
            }
            if !wait { c.resume() }
          }
        }
      }
      let last = offset + n == bytes.count
      try await send(.data(streamID: stream.id, flags: fin && last ? SPDYFrame.flagFin : 0, payload: Array(bytes[offset..<offset + n])))
      offset += n
    } while offset < bytes.count
  }

  /// The consumer of `stream` has read `count` bytes: give the peer room for as many more.
  func consumed(_ stream: SPDYStream, _ count: Int) async {
    guard sendsWindowUpdates, count > 0, !isClosed else { return }
    try? await send(.windowUpdate(streamID: stream.id, delta: UInt32(count)))
    try? await send(.windowUpdate(streamID: 0, delta: UInt32(count)))
  }

  func removeStream(_ id: UInt32) {
    state.withLock { _ = $0.streams.removeValue(forKey: id) }
  }

  // MARK: receiving

  /// Reads and handles frames until the peer closes the connection or breaks the
  /// protocol (then a GOAWAY with PROTOCOL_ERROR goes out), or the task is cancelled. Ends every stream
  /// when it returns. A GOAWAY from the peer only stops new streams.
  func run(reader: ByteReader) async {
    // Cancelled (server shutdown): the peer is still there, so what this side still has to say (an
    // exit status, GOAWAY) can go out; only reading stops. Otherwise the connection is gone.
    defer { if Task.isCancelled { endInbound() } else { shutdown() } }
    do {
      while !Task.isCancelled {
        guard let header = try await reader.read(exactly: 8) else { return }
        let length = SPDYFrame.payloadLength(header: header)
        guard let payload = try await reader.read(exactly: length) else {
          throw SPDYError.protocolError("connection closed in the middle of a frame")
        }
        let frame = try SPDYFrame.decode(header: header, payload: payload, inflater: inflater)
        if try await handle(frame) == false { return }
      }
    } catch let error as SPDYError {
      if case .protocolError = error {
        let last = state.withLock { $0.lastPeerStreamID }
        try? await send(.goAway(lastGoodStreamID: last, status: 1))
      }
    } catch {}
  }

  private func peerInitiated(_ id: UInt32) -> Bool { (id % 2 == 1) == (role == .server) }

  /// false: stop reading.
  private func handle(_ frame: SPDYFrame) async throws -> Bool {
    switch frame {
    case let .synStream(id, _, _, flags, headers):
      guard id != 0, peerInitiated(id) else { throw SPDYError.protocolError("stream id \(id) is not the peer's to open") }
      let accepted = state.withLock { s -> SPDYStream? in
        guard id > s.lastPeerStreamID, !s.closed else { return nil }
        s.lastPeerStreamID = id
        let stream = SPDYStream(id: id, headers: headers, connection: self, sendWindow: s.initialSendWindow)
        stream.replied = true
        s.streams[id] = stream
        return stream
      }
      guard let stream = accepted else {
        try await send(.rstStream(streamID: id, status: SPDYFrame.rstProtocolError))
        return true
      }
      if flags & SPDYFrame.flagUnidirectional != 0 { stream.markLocalClosed() }
      if flags & SPDYFrame.flagFin != 0 { stream.remoteFinished() }
      try await send(.synReply(streamID: id, flags: 0, headers: SPDYHeaders()))
      incomingContinuation.yield(stream)
    case let .synReply(id, flags, headers):
      let (stream, waiter) = state.withLock { s -> (SPDYStream?, CheckedContinuation<SPDYHeaders, any Error>?) in
        let stream = s.streams[id]
        stream?.replied = true
        return (stream, s.replyWaiters.removeValue(forKey: id))
      }
      waiter?.resume(returning: headers)
      if flags & SPDYFrame.flagFin != 0 { stream?.remoteFinished() }
    case let .rstStream(id, _):
      let (stream, waiter) = state.withLock { s in (s.streams.removeValue(forKey: id), s.replyWaiters.removeValue(forKey: id)) }
      stream?.wasReset()
      waiter?.resume(throwing: SPDYError.streamReset(id))
      wakeWindowWaiters()
    case let .settings(_, entries):
      for e in entries where e.id == SPDYFrame.settingsInitialWindowSize {
        state.withLock { s in
          let delta = Int(e.value) - s.initialSendWindow
          s.initialSendWindow = Int(e.value)
          s.peerFlowControl = true
          for stream in s.streams.values { stream.sendWindow += delta }
        }
        wakeWindowWaiters()
      }
    case let .ping(id):
      if (id % 2 == 1) == (role == .server) {
        try await send(.ping(id: id))
      } else {
        state.withLock { $0.pingWaiters.removeValue(forKey: id) }?.resume()
      }
    case .goAway:
      // No new streams from the peer; those open go on until the connection closes.
      state.withLock { $0.goAwayReceived = true }
    case .headers(let id, let flags, _):
      if flags & SPDYFrame.flagFin != 0 { state.withLock { $0.streams[id] }?.remoteFinished() }
    case let .windowUpdate(id, delta):
      state.withLock { s in
        s.peerFlowControl = true
        if id == 0 { s.sessionSendWindow += Int(delta) } else { s.streams[id]?.sendWindow += Int(delta) }
      }
      wakeWindowWaiters()
    case let .data(id, flags, payload):
      guard let stream = state.withLock({ $0.streams[id] }) else {
        if id != 0 { try await send(.rstStream(streamID: id, status: SPDYFrame.rstStreamAlreadyClosed)) }
        return true
      }
      if !payload.isEmpty { stream.received(payload) }
      if flags & SPDYFrame.flagFin != 0 { stream.remoteFinished() }
    case .unknown:
      break
    }
    return true
  }

  private func wakeWindowWaiters() {
    let waiters = state.withLock { s in
      defer { s.windowWaiters.removeAll() }
      return s.windowWaiters
    }
    for w in waiters { w.resume() }
  }

  /// No more frames will be read: inbound data and new streams end; sending still works.
  func endInbound() {
    let streams = state.withLock { Array($0.streams.values) }
    for stream in streams { stream.inboundEnded() }
    incomingContinuation.finish()
  }

  /// The connection is over: every stream ends, every waiter fails.
  func shutdown() {
    let (streams, replies, pings, windows) = state.withLock { s in
      s.closed = true
      defer {
        s.streams.removeAll()
        s.replyWaiters.removeAll()
        s.pingWaiters.removeAll()
        s.windowWaiters.removeAll()
      }
      return (Array(s.streams.values), s.replyWaiters, s.pingWaiters, s.windowWaiters)
    }
    for stream in streams { stream.connectionEnded() }
    for (_, c) in replies { c.resume(throwing: SPDYError.connectionClosed) }
    for (_, c) in pings { c.resume(throwing: SPDYError.connectionClosed) }
    for c in windows { c.resume() }
    incomingContinuation.finish()
  }
}

/// One SPDY stream: inbound data as an async sequence (ends at the peer's FIN, a reset, or the end of
/// the connection), outbound writes through the connection.
final class SPDYStream: Sendable {
  let id: UInt32
  let headers: SPDYHeaders
  let connection: SPDYConnection
  let inbound: AsyncStream<[UInt8]>
  private let inboundContinuation: AsyncStream<[UInt8]>.Continuation

  private struct State {
    var sendWindow: Int
    var localClosed = false
    var remoteClosed = false
    var reset = false
    var replied = false
  }
  private let state: Mutex<State>

  init(id: UInt32, headers: SPDYHeaders, connection: SPDYConnection, sendWindow: Int) {
    self.id = id
    self.headers = headers
    self.connection = connection
    (inbound, inboundContinuation) = AsyncStream.makeStream(of: [UInt8].self)
    state = Mutex(State(sendWindow: sendWindow))
  }

  var sendWindow: Int {
    get { state.withLock { $0.sendWindow } }
    set { state.withLock { $0.sendWindow = newValue } }
  }
  var replied: Bool {
    get { state.withLock { $0.replied } }
    set { state.withLock { $0.replied = newValue } }
  }
  var isReset: Bool { state.withLock { $0.reset } }

  /// The Kubernetes stream type (`streamType` header).
  var streamType: String? { headers["streamtype"] }

  func write(_ bytes: [UInt8]) async throws {
    guard !bytes.isEmpty else { return }
    guard !state.withLock({ $0.localClosed }) else { throw SPDYError.protocolError("write on closed stream \(id)") }
    try await connection.sendData(self, bytes, fin: false)
  }

  /// Half-closes: an empty DATA frame with FIN. Idempotent.
  func closeWrite() async {
    let first = state.withLock { s -> Bool in
      defer { s.localClosed = true }
      return !s.localClosed && !s.reset
    }
    guard first else { return }
    try? await connection.sendData(self, [], fin: true)
    finishIfDone()
  }

  /// RST_STREAM CANCEL; the inbound side ends too.
  func reset() async {
    let first = state.withLock { s -> Bool in
      defer { s.reset = true; s.localClosed = true }
      return !s.reset
    }
    guard first else { return }
    inboundContinuation.finish()
    connection.removeStream(id)
    try? await connection.send(.rstStream(streamID: id, status: SPDYFrame.rstCancel))
  }

  /// Tells the peer it may send `count` more bytes (after the consumer read them).
  func consumed(_ count: Int) async { await connection.consumed(self, count) }

  func markLocalClosed() { state.withLock { $0.localClosed = true } }

  func received(_ payload: [UInt8]) { inboundContinuation.yield(payload) }

  func remoteFinished() {
    state.withLock { $0.remoteClosed = true }
    inboundContinuation.finish()
    finishIfDone()
  }

  func wasReset() {
    state.withLock { $0.reset = true; $0.localClosed = true }
    inboundContinuation.finish()
  }

  func inboundEnded() {
    inboundContinuation.finish()
  }

  func connectionEnded() {
    state.withLock { $0.reset = true }
    inboundContinuation.finish()
  }

  private func finishIfDone() {
    if state.withLock({ $0.localClosed && $0.remoteClosed }) { connection.removeStream(id) }
  }
}
