// One HTTP/2 connection of the gRPC server: everything here runs on the channel's event loop; a call's
// handler runs in a task of its own, and its answer comes back to the loop.
//
// Flow control: we grant each stream 1 MiB and the connection 16 MiB up front and give back what we
// read (requests are whole messages, held until END_STREAM, bounded by maxRequestMessage); what we send
// waits for the client's windows (per stream and for the connection) and goes out as they open.
import NIOCore
import NIOHPACK

final class RPCConnectionHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  struct GracefulShutdown: Sendable {}

  static let streamWindow = 1 << 20
  static let connectionWindow = 16 << 20
  /// A streaming call's writer waits while more than this is queued for its stream.
  static let streamBacklog = 1 << 20

  final class Stream {
    let id: UInt32
    var path = ""
    var streaming = false
    var body: ByteBuffer?
    var compressed = false
    var deadline: NIODeadline?
    var remoteClosed = false
    /// Our response head is written.
    var headSent = false
    /// Our trailers are queued: nothing more will be.
    var finished = false
    var sendWindow: Int
    /// Flow control of what the client sends on the stream: bytes received, bytes not yet given back,
    /// bytes given back (WINDOW_UPDATE).
    var received = 0
    var unacknowledged = 0
    var granted = 0
    var pending: ByteBuffer?
    var trailers: RPCStatus?
    var task: Task<Void, Never>?
    var timeout: Scheduled<Void>?
    var drainWaiters: [EventLoopPromise<Void>] = []

    init(id: UInt32, sendWindow: Int) {
      self.id = id
      self.sendWindow = sendWindow
    }

    var pendingBytes: Int { pending?.readableBytes ?? 0 }
  }

  let methods: [String: RPCMethod]
  let limits: RPCServerLimits
  let statusOf: @Sendable (any Error) -> RPCStatus

  private var context: ChannelHandlerContext!
  private var inbound: ByteBuffer?
  private var prefaceSeen = false
  private var decoder: HPACKDecoder
  private var streams: [UInt32: Stream] = [:]
  private var lastStreamID: UInt32 = 0
  /// A header block that continues in CONTINUATION frames: its stream, END_STREAM, the block so far.
  private var partialBlock: (stream: UInt32, endStream: Bool, block: ByteBuffer)?
  private var peerMaxFrameSize = defaultMaxFrameSize
  private var peerInitialWindow = defaultWindow
  private var connectionSendWindow = defaultWindow
  private var connectionUnacknowledged = 0
  /// Streams with answers held back by flow control, in the order they were blocked.
  private var blocked: [UInt32] = []
  private var out: ByteBuffer
  private var goingAway = false
  private var peerGoingAway = false
  /// The client lowered SETTINGS_HEADER_TABLE_SIZE: our next header block starts with a dynamic table
  /// size update (RFC 7541 §4.2; ours is empty, so to 0).
  private var tableSizeUpdate = false
  private var closed = false

  init(methods: [String: RPCMethod], limits: RPCServerLimits, statusOf: @escaping @Sendable (any Error) -> RPCStatus) {
    self.methods = methods
    self.limits = limits
    self.statusOf = statusOf
    self.decoder = HPACKDecoder(
      allocator: ByteBufferAllocator(), maxDynamicTableSize: HPACKDecoder.maxDynamicTableSize,
      maxHeaderListSize: limits.maxHeaderListSize)
    self.out = ByteBufferAllocator().buffer(capacity: 0)
  }

  // MARK: channel events

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    out = context.channel.allocator.buffer(capacity: 256)
    if context.channel.isActive { sendPreface() }
  }

  func channelActive(context: ChannelHandlerContext) {
    sendPreface()
    context.fireChannelActive()
  }

  private var prefaceSent = false
  private func sendPreface() {
    guard !prefaceSent else { return }
    prefaceSent = true
    out.writeSettings([
      (.maxConcurrentStreams, UInt32(limits.maxConcurrentStreams)),
      (.initialWindowSize, UInt32(Self.streamWindow)),
      (.maxHeaderListSize, UInt32(limits.maxHeaderListSize)),
      (.enablePush, 0),
    ])
    out.writeWindowUpdate(stream: 0, increment: Self.connectionWindow - defaultWindow)
    flush()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var bytes = unwrapInboundIn(data)
    if inbound == nil || inbound!.readableBytes == 0 {
      inbound = bytes
    } else {
      inbound!.writeBuffer(&bytes)
    }
    do {
      try processFrames()
    } catch let e as H2Error {
      connectionError(e)
    } catch {
      connectionError(.protocolError)
    }
    if let b = inbound, b.readableBytes == 0 {
      inbound = nil
    } else if inbound != nil, inbound!.readerIndex > 65536 {
      inbound!.discardReadBytes()
    }
    flush()
  }

  func channelInactive(context: ChannelHandlerContext) {
    closed = true
    for stream in streams.values { abandon(stream) }
    streams = [:]
    blocked = []
    context.fireChannelInactive()
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if event is GracefulShutdown {
      beginShutdown()
      flush()
    } else {
      context.fireUserInboundEventTriggered(event)
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }

  // MARK: frames in

  private func processFrames() throws {
    while !closed, var buffer = inbound {
      if !prefaceSeen {
        guard buffer.readableBytes >= clientPreface.count else { return }
        guard buffer.readBytes(length: clientPreface.count)! == clientPreface else {
          throw H2Error.protocolError
        }
        prefaceSeen = true
        inbound = buffer
        continue
      }
      guard buffer.readableBytes >= 9,
        let lengthHigh = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
        let lengthLow = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt16.self)
      else { return }
      let length = Int(lengthHigh) << 16 | Int(lengthLow)
      guard length <= defaultMaxFrameSize else { throw H2Error.frameSizeError }
      guard buffer.readableBytes >= 9 + length else { return }
      buffer.moveReaderIndex(forwardBy: 3)
      let type = buffer.readInteger(as: UInt8.self)!
      let flags = buffer.readInteger(as: UInt8.self)!
      let stream = buffer.readInteger(as: UInt32.self)! & 0x7fff_ffff
      let payload = buffer.readSlice(length: length)!
      inbound = buffer
      try frame(type: type, flags: flags, stream: stream, payload: payload)
    }
  }

  private func frame(type rawType: UInt8, flags: UInt8, stream: UInt32, payload: ByteBuffer) throws {
    if let partial = partialBlock {
      guard rawType == FrameType.continuation.rawValue, stream == partial.stream else { throw H2Error.protocolError }
    }
    guard let type = FrameType(rawValue: rawType) else { return }  // unknown frame types are ignored
    switch type {
    case .data: try data(flags: flags, stream: stream, payload: payload)
    case .headers: try headers(flags: flags, stream: stream, payload: payload)
    case .continuation:
      guard var partial = partialBlock else { throw H2Error.protocolError }
      var payload = payload
      partial.block.writeBuffer(&payload)
      guard partial.block.readableBytes <= limits.maxHeaderListSize * 2 else { throw H2Error.enhanceYourCalm }
      if flags & FrameFlag.endHeaders != 0 {
        partialBlock = nil
        try headerBlock(partial.block, stream: partial.stream, endStream: partial.endStream)
      } else {
        partialBlock = partial
      }
    case .priority:
      guard stream != 0 else { throw H2Error.protocolError }
      guard payload.readableBytes == 5 else { throw H2Error.frameSizeError }
    case .rstStream:
      guard stream != 0 else { throw H2Error.protocolError }
      guard payload.readableBytes == 4 else { throw H2Error.frameSizeError }
      guard stream <= lastStreamID else { throw H2Error.protocolError }
      if let s = streams.removeValue(forKey: stream) { abandon(s) }
      closeIfDone()
    case .settings: try settings(flags: flags, stream: stream, payload: payload)
    case .pushPromise: throw H2Error.protocolError
    case .ping:
      guard stream == 0 else { throw H2Error.protocolError }
      guard payload.readableBytes == 8 else { throw H2Error.frameSizeError }
      if flags & FrameFlag.ack == 0 {
        var payload = payload
        out.writeFrameHead(length: 8, type: .ping, flags: FrameFlag.ack, stream: 0)
        out.writeBuffer(&payload)
      }
    case .goAway:
      guard stream == 0 else { throw H2Error.protocolError }
      peerGoingAway = true
      closeIfDone()
    case .windowUpdate: try windowUpdate(stream: stream, payload: payload)
    }
  }

  /// Strips a PADDED frame's padding (and a HEADERS frame's priority fields).
  private func unpadded(_ payload: ByteBuffer, flags: UInt8, priority: Bool = false) throws -> ByteBuffer {
    var payload = payload
    var pad = 0
    if flags & FrameFlag.padded != 0 {
      guard let p = payload.readInteger(as: UInt8.self) else { throw H2Error.frameSizeError }
      pad = Int(p)
    }
    if priority {
      guard payload.readSlice(length: 5) != nil else { throw H2Error.frameSizeError }
    }
    guard pad <= payload.readableBytes else { throw H2Error.protocolError }
    return payload.readSlice(length: payload.readableBytes - pad)!
  }

  private func headers(flags: UInt8, stream: UInt32, payload: ByteBuffer) throws {
    guard stream != 0 else { throw H2Error.protocolError }
    let block = try unpadded(payload, flags: flags, priority: flags & FrameFlag.priority != 0)
    let endStream = flags & FrameFlag.endStream != 0
    if flags & FrameFlag.endHeaders != 0 {
      try headerBlock(block, stream: stream, endStream: endStream)
    } else {
      partialBlock = (stream, endStream, block)
    }
  }

  private func headerBlock(_ block: ByteBuffer, stream id: UInt32, endStream: Bool) throws {
    var block = block
    let fields: HPACKHeaders
    do {
      fields = try decoder.decodeHeaders(from: &block)
    } catch {
      throw H2Error.compressionError
    }
    if let stream = streams[id] {
      // Trailers from the client: they end its side of the stream.
      guard endStream else { throw H2Error.protocolError }
      guard !stream.remoteClosed else { return reset(stream, .streamClosed) }
      stream.remoteClosed = true
      dispatch(stream)
      return
    }
    guard id & 1 == 1, id > lastStreamID else {
      // A closed stream's trailers (we answered before the client's end): nothing more to do.
      guard id <= lastStreamID else { throw H2Error.protocolError }
      return
    }
    lastStreamID = id
    if goingAway || peerGoingAway {
      out.writeRstStream(stream: id, error: .refusedStream)
      return
    }
    guard streams.count < limits.maxConcurrentStreams else {
      out.writeRstStream(stream: id, error: .refusedStream)
      return
    }
    let stream = Stream(id: id, sendWindow: peerInitialWindow)
    streams[id] = stream
    stream.remoteClosed = endStream
    var method = ""
    var contentType = ""
    var timeout = ""
    var encoding = ""
    for (name, value, _) in fields {
      switch name {
      case ":path": stream.path = value
      case ":method": method = value
      case "content-type": contentType = value
      case "grpc-timeout": timeout = value
      case "grpc-encoding": encoding = value
      default: break
      }
    }
    guard method == "POST", !stream.path.isEmpty else { return reset(stream, .protocolError) }
    guard contentType.hasPrefix("application/grpc") else {
      var head = newHeaderBlock(capacity: 8)
      HeaderBlock.httpStatus(415, into: &head)
      stream.headSent = true
      stream.finished = true
      out.writeHeaderBlock(head, stream: id, endStream: true, maxFrameSize: peerMaxFrameSize)
      return finishLocally(stream)
    }
    guard let method = methods[stream.path] else {
      return answer(stream, RPCStatus(code: RPCStatus.unimplementedCode, message: "unknown method \(stream.path)"))
    }
    if case .serverStreaming = method { stream.streaming = true }
    stream.compressed = !(encoding.isEmpty || encoding == "identity")
    if !timeout.isEmpty {
      guard let amount = parseGRPCTimeout(timeout) else {
        return answer(stream, RPCStatus(code: RPCStatus.internalCode, message: "malformed grpc-timeout \"\(timeout)\""))
      }
      stream.deadline = .now() + amount
      let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
      stream.timeout = context.eventLoop.scheduleTask(in: amount) {
        bound.value.deadlineExceeded(id)
      }
    }
    if endStream { dispatch(stream) }
  }

  private func data(flags: UInt8, stream id: UInt32, payload: ByteBuffer) throws {
    guard id != 0 else { throw H2Error.protocolError }
    // All of it counts against the connection's window, whatever becomes of the stream.
    connectionUnacknowledged += payload.readableBytes
    if connectionUnacknowledged >= Self.connectionWindow / 2 {
      out.writeWindowUpdate(stream: 0, increment: connectionUnacknowledged)
      connectionUnacknowledged = 0
    }
    var body = try unpadded(payload, flags: flags)
    guard let stream = streams[id] else {
      guard id <= lastStreamID else { throw H2Error.protocolError }
      return  // a stream we answered and forgot
    }
    guard !stream.remoteClosed else { return reset(stream, .streamClosed) }
    stream.received += payload.readableBytes
    guard stream.received <= Self.streamWindow + stream.granted else {
      return reset(stream, .flowControlError)
    }
    let endStream = flags & FrameFlag.endStream != 0
    if !stream.finished {
      if stream.body == nil {
        stream.body = body
      } else {
        stream.body!.writeBuffer(&body)
      }
      if stream.body!.readableBytes > limits.maxRequestMessage + 5 {
        stream.body = nil
        return answer(
          stream,
          RPCStatus(
            code: RPCStatus.resourceExhaustedCode,
            message: "request message larger than the limit of \(limits.maxRequestMessage) bytes"))
      }
    }
    if endStream {
      stream.remoteClosed = true
      dispatch(stream)
    } else {
      stream.unacknowledged += payload.readableBytes
      if stream.unacknowledged >= Self.streamWindow / 2 {
        out.writeWindowUpdate(stream: id, increment: stream.unacknowledged)
        stream.granted += stream.unacknowledged
        stream.unacknowledged = 0
      }
    }
  }

  private func settings(flags: UInt8, stream: UInt32, payload: ByteBuffer) throws {
    guard stream == 0 else { throw H2Error.protocolError }
    if flags & FrameFlag.ack != 0 {
      guard payload.readableBytes == 0 else { throw H2Error.frameSizeError }
      return
    }
    guard payload.readableBytes % 6 == 0 else { throw H2Error.frameSizeError }
    var payload = payload
    while let id = payload.readInteger(as: UInt16.self), let value = payload.readInteger(as: UInt32.self) {
      switch SettingID(rawValue: id) {
      case .initialWindowSize:
        guard value <= UInt32(maxWindow) else { throw H2Error.flowControlError }
        let delta = Int(value) - peerInitialWindow
        peerInitialWindow = Int(value)
        for s in streams.values {
          s.sendWindow += delta
          guard s.sendWindow <= maxWindow else { throw H2Error.flowControlError }
        }
      case .maxFrameSize:
        guard value >= 16_384 && value <= 16_777_215 else { throw H2Error.protocolError }
        peerMaxFrameSize = Int(value)
      case .enablePush:
        guard value <= 1 else { throw H2Error.protocolError }
      case .headerTableSize:
        if value < 4096 { tableSizeUpdate = true }
      default: break  // the rest do not bind a server that never pushes
      }
    }
    out.writeFrameHead(length: 0, type: .settings, flags: FrameFlag.ack, stream: 0)
    pumpBlocked()
  }

  private func windowUpdate(stream id: UInt32, payload: ByteBuffer) throws {
    guard payload.readableBytes == 4 else { throw H2Error.frameSizeError }
    let increment = Int(payload.getInteger(at: payload.readerIndex, as: UInt32.self)! & 0x7fff_ffff)
    if id == 0 {
      guard increment > 0 else { throw H2Error.protocolError }
      connectionSendWindow += increment
      guard connectionSendWindow <= maxWindow else { throw H2Error.flowControlError }
      pumpBlocked()
      return
    }
    guard let stream = streams[id] else { return }
    guard increment > 0 else { return reset(stream, .protocolError) }
    stream.sendWindow += increment
    guard stream.sendWindow <= maxWindow else { return reset(stream, .flowControlError) }
    pump(stream)
  }

  // MARK: calls

  private func dispatch(_ stream: Stream) {
    guard !stream.finished, stream.task == nil else { return }
    guard let method = methods[stream.path] else { return }
    guard var body = stream.body, body.readableBytes >= 5,
      let flag = body.readInteger(as: UInt8.self), let length = body.readInteger(as: UInt32.self)
    else {
      return answer(stream, RPCStatus(code: RPCStatus.internalCode, message: "the request has no message"))
    }
    guard Int(length) == body.readableBytes else {
      return answer(
        stream,
        RPCStatus(
          code: RPCStatus.internalCode,
          message: "the request's message is framed as \(length) bytes but \(body.readableBytes) followed "
            + "(one message per request)"))
    }
    guard flag == 0 else {
      return answer(
        stream,
        RPCStatus(
          code: RPCStatus.unimplementedCode,
          message: stream.compressed ? "compressed messages are not supported" : "compressed flag set without grpc-encoding"))
    }
    stream.body = nil
    let call = RPCCall(path: stream.path, deadline: stream.deadline)
    let loop = context.eventLoop
    let bound = NIOLoopBound(self, eventLoop: loop)
    let id = stream.id
    let statusOf = self.statusOf
    switch method {
    case .unary(let handler):
      stream.task = Task {
        let result: Result<ByteBuffer, RPCStatus>
        do {
          result = .success(try await handler(body, call))
        } catch {
          result = .failure(statusOf(error))
        }
        if loop.inEventLoop {
          bound.value.finishUnary(id, result)
        } else {
          loop.execute { bound.value.finishUnary(id, result) }
        }
      }
    case .serverStreaming(let handler):
      let writer = RPCStreamWriter { message in
        try await loop.flatSubmit { bound.value.streamMessage(id, message) }.get()
      }
      stream.task = Task {
        var status: RPCStatus?
        do {
          try await handler(body, call, writer)
        } catch {
          status = statusOf(error)
        }
        let final = status
        loop.execute { bound.value.finishStreaming(id, final) }
      }
    }
  }

  fileprivate func finishUnary(_ id: UInt32, _ result: Result<ByteBuffer, RPCStatus>) {
    guard let stream = streams[id], !stream.finished else { return }
    switch result {
    case .success(let message):
      queueMessage(stream, message)
      finish(stream, nil)
    case .failure(let status):
      finish(stream, status)
    }
    flush()
  }

  fileprivate func finishStreaming(_ id: UInt32, _ status: RPCStatus?) {
    guard let stream = streams[id], !stream.finished else { return }
    finish(stream, status)
    flush()
  }

  fileprivate func streamMessage(_ id: UInt32, _ message: ByteBuffer) -> EventLoopFuture<Void> {
    let loop = context.eventLoop
    guard let stream = streams[id], !stream.finished else {
      return loop.makeFailedFuture(RPCStatus(code: RPCStatus.cancelledCode, message: "the call has ended"))
    }
    queueMessage(stream, message)
    pump(stream)
    flush()
    guard stream.pendingBytes > Self.streamBacklog else { return loop.makeSucceededVoidFuture() }
    let promise = loop.makePromise(of: Void.self)
    stream.drainWaiters.append(promise)
    return promise.futureResult
  }

  fileprivate func deadlineExceeded(_ id: UInt32) {
    guard let stream = streams[id], !stream.finished else { return }
    stream.timeout = nil
    stream.task?.cancel()
    stream.pending = nil
    finish(stream, RPCStatus(code: RPCStatus.deadlineExceededCode, message: "deadline exceeded"))
    flush()
  }

  // MARK: answers out

  /// Ends a call that has not started (or cannot): a trailers-only answer.
  private func answer(_ stream: Stream, _ status: RPCStatus) {
    finish(stream, status)
  }

  private func queueMessage(_ stream: Stream, _ message: ByteBuffer) {
    var message = message
    var framed = stream.pending ?? context.channel.allocator.buffer(capacity: 5 + message.readableBytes)
    framed.writeInteger(UInt8(0))
    framed.writeInteger(UInt32(message.readableBytes))
    framed.writeBuffer(&message)
    if !stream.headSent {
      var head = newHeaderBlock(capacity: 32)
      HeaderBlock.responseHead(into: &head)
      out.writeHeaderBlock(head, stream: stream.id, endStream: false, maxFrameSize: peerMaxFrameSize)
      stream.headSent = true
    }
    stream.pending = framed
  }

  /// Queues the trailers (status nil: OK); they go once the queued messages have.
  private func finish(_ stream: Stream, _ status: RPCStatus?) {
    stream.finished = true
    stream.trailers = status ?? RPCStatus(code: 0, message: "")
    stream.timeout?.cancel()
    stream.timeout = nil
    pump(stream)
  }

  /// Sends what the windows allow of a stream's queued messages, then its trailers when all went.
  private func pump(_ stream: Stream) {
    if var pending = stream.pending, pending.readableBytes > 0 {
      while pending.readableBytes > 0 {
        let n = min(pending.readableBytes, stream.sendWindow, connectionSendWindow, peerMaxFrameSize)
        guard n > 0 else { break }
        out.writeFrameHead(length: n, type: .data, flags: 0, stream: stream.id)
        var chunk = pending.readSlice(length: n)!
        out.writeBuffer(&chunk)
        stream.sendWindow -= n
        connectionSendWindow -= n
      }
      stream.pending = pending.readableBytes > 0 ? pending : nil
      if stream.pending != nil {
        if !blocked.contains(stream.id) { blocked.append(stream.id) }
        if stream.pendingBytes <= Self.streamBacklog { resumeWriters(stream) }
        return
      }
    }
    resumeWriters(stream)
    guard let status = stream.trailers else { return }
    var block = newHeaderBlock(capacity: 64 + status.message.utf8.count)
    if !stream.headSent { HeaderBlock.responseHead(into: &block) }
    stream.headSent = true
    HeaderBlock.literal(name: "grpc-status", value: String(status.code), into: &block)
    if !status.message.isEmpty {
      HeaderBlock.literal(name: "grpc-message", value: HeaderBlock.percentEncoded(status.message), into: &block)
    }
    out.writeHeaderBlock(block, stream: stream.id, endStream: true, maxFrameSize: peerMaxFrameSize)
    stream.trailers = nil
    finishLocally(stream)
  }

  /// Our side of the stream is closed: forget it, and when the client has not ended its side, tell it
  /// that we need nothing more (RST_STREAM NO_ERROR, as gRPC servers do).
  private func finishLocally(_ stream: Stream) {
    if !stream.remoteClosed {
      out.writeRstStream(stream: stream.id, error: .noError)
      stream.task?.cancel()
    }
    streams[stream.id] = nil
    stream.timeout?.cancel()
    closeIfDone()
  }

  private func newHeaderBlock(capacity: Int) -> ByteBuffer {
    var block = context.channel.allocator.buffer(capacity: capacity)
    if tableSizeUpdate {
      block.writeInteger(UInt8(0x20))
      tableSizeUpdate = false
    }
    return block
  }

  private func pumpBlocked() {
    guard !blocked.isEmpty else { return }
    let ids = blocked
    blocked = []
    for id in ids {
      guard let s = streams[id] else { continue }
      pump(s)
    }
  }

  private func resumeWriters(_ stream: Stream) {
    guard !stream.drainWaiters.isEmpty else { return }
    let waiters = stream.drainWaiters
    stream.drainWaiters = []
    for w in waiters { w.succeed() }
  }

  /// The stream ends without an answer (the client reset it, the connection closed).
  private func abandon(_ stream: Stream) {
    stream.task?.cancel()
    stream.timeout?.cancel()
    stream.finished = true
    let waiters = stream.drainWaiters
    stream.drainWaiters = []
    for w in waiters { w.fail(RPCStatus(code: RPCStatus.cancelledCode, message: "the call was cancelled")) }
  }

  private func reset(_ stream: Stream, _ error: H2Error) {
    out.writeRstStream(stream: stream.id, error: error)
    streams[stream.id] = nil
    abandon(stream)
    closeIfDone()
  }

  // MARK: connection

  private func beginShutdown() {
    guard !goingAway, !closed else { return }
    goingAway = true
    out.writeGoAway(lastStream: lastStreamID, error: .noError)
    for stream in streams.values where stream.streaming && !stream.finished {
      stream.task?.cancel()
      stream.pending = nil
      finish(stream, RPCStatus(code: RPCStatus.unavailableCode, message: "liftoff-cri is shutting down"))
    }
    closeIfDone()
  }

  private func closeIfDone() {
    guard (goingAway || peerGoingAway), streams.isEmpty, !closed else { return }
    closed = true
    flush()
    context.close(promise: nil)
  }

  private func connectionError(_ error: H2Error) {
    guard !closed else { return }
    out.writeGoAway(lastStream: lastStreamID, error: error)
    closed = true
    for stream in streams.values { abandon(stream) }
    streams = [:]
    flush()
    context.close(promise: nil)
  }

  private func flush() {
    guard out.readableBytes > 0, context != nil else { return }
    let bytes = out
    out = context.channel.allocator.buffer(capacity: 256)
    context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
  }
}
