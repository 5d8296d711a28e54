// libFuzzer targets for the parsers that read untrusted input (README "Fuzzing", hack/fuzz.sh). One
// binary; LIFTOFF_FUZZ_TARGET picks the target:
//   json       LiftoffCore.JSON: differential against Foundation's JSONSerialization (minus the
//              documented differences, JSONStrictTests.swift), and parse → serialize → parse equality
//   imageref   ImageReference(parsing:): no crash; a parsed reference's string form re-parses to it
//   manifest   image manifest and index (Codable, as LiftoffImage reads a registry's blobs), image
//              config (ImageConfig(json:); what ImageConfig.json writes reads back the same), pod
//              manifest (PodManifest(json:)): no crash
//   toml       policy.toml (TrustTOMLPolicy, LiftoffCatalog's TOML subset reader): no crash; a policy's
//              serialized form reads back to the same policy
//   cniresult  CNI results and network configuration lists (LiftoffNet): no crash
//   attach     attach frames in both directions (decode → encode is the input's frame) and the CRI
//              log splitter (records well formed, content kept)
//   spdy       SPDY/3.1 frames as a connection reads them (one header inflater for the stream of
//              frames): lengths within the input; a decoded frame re-encodes (our deflater) and decodes
//              (a second inflater) to the same frame
//   spdyheaders a SPDY header block, compressed (zlib with the SPDY dictionary; output capped at
//              1 MiB) and uncompressed: decode → encode → decode is the same headers; our deflater's
//              output inflates back to the block
//   websocket  WebSocket frames as the server and the client read them: NIOWebSocket's decoder and
//              aggregator with our WebSocketFrameCheck (WebSocket.addFrameHandlers) in an EmbeddedChannel,
//              in chunks the input chooses: whole messages within the limit, control frames short and
//              whole, nothing reserved or unknown passes; a frame written by the other side (masked or
//              not) reads back to itself
//   httphead   HTTP/1.1 request heads as the streaming server reads them: its handlers (the 16 KiB limit,
//              NIOHTTP1's decoder, the router; HTTPHead.swift) in an EmbeddedChannel, the input in chunks
//              it chooses, a route that upgrades some paths: the answer is 101 or an error (then the
//              connection is closed); a routed head is within the limit; after a 101 the bytes after the
//              head reach the next handler, all of them, in order
//   grpcframes HTTP/2 as the CRI socket's gRPC server reads it: LiftoffRPC's connection handler in an
//              EmbeddedChannel after the client preface, the input in chunks it chooses (no methods, so
//              every call is answered at once, on this thread): what the server writes is whole frames,
//              none longer than the peer allows, its header blocks decode (a fresh HPACK decoder:
//              our encoder keeps no state), and after a GOAWAY with an error the connection is closed
// A finding is a crash or a failed `check`, which aborts so that libFuzzer keeps the input.
// Built with `-sanitize=fuzzer -DLIFTOFF_FUZZ` only by hack/fuzz.sh.
#if LIFTOFF_FUZZ
import Foundation
import LiftoffCatalog
import LiftoffCore
import LiftoffNet
@testable import LiftoffRPC
@testable import LiftoffStreaming
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP1
import NIOWebSocket
import Synchronization

private let target = ProcessInfo.processInfo.environment["LIFTOFF_FUZZ_TARGET"] ?? ""
private let targets = ["json", "imageref", "toml", "manifest", "cniresult", "attach", "spdy", "spdyheaders", "websocket", "httphead", "grpcframes"]

// SwiftPM links an executable with `main` defined as the module's entry point (liftoff_fuzz_main), so
// libFuzzer's own main is not linked: ours hands the command line to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
  _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@main
struct LiftoffFuzz {
  static func main() {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(runDriver(&argc, &argv, fuzzOne))
  }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
  switch target {
  case "json": fuzzJSON(bytes)
  case "imageref": fuzzImageReference(bytes)
  case "toml": fuzzTOML(bytes)
  case "manifest": fuzzManifest(bytes)
  case "cniresult": fuzzCNI(bytes)
  case "attach": fuzzAttach(bytes)
  case "spdy": fuzzSPDY(bytes)
  case "spdyheaders": fuzzSPDYHeaders(bytes)
  case "websocket": fuzzWebSocket(bytes)
  case "httphead": fuzzHTTPHead(bytes)
  case "grpcframes": fuzzGRPCFrames(bytes)
  default:
    say("liftoff-fuzz: set LIFTOFF_FUZZ_TARGET to one of \(targets.joined(separator: ", "))")
    exit(2)
  }
  return 0
}

private func say(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

/// A property that failed: print what and abort, so that libFuzzer reports the input as a crash.
private func check(_ ok: @autoclosure () -> Bool, _ what: @autoclosure () -> String) {
  guard !ok() else { return }
  say("liftoff-fuzz \(target): \(what())")
  abort()
}

// MARK: json

private func fuzzJSON(_ bytes: [UInt8]) {
  let ours = try? JSON.parse(bytes: bytes)
  if let ours {
    // What we write reads back to the same value, compact and pretty.
    for pretty in [false, true] {
      let text = ours.serialized(pretty: pretty)
      let again = try? JSON.parse(text)
      check(again == ours, "serialize → parse differs (pretty \(pretty)): \(text.debugDescription)")
    }
  }
  let theirs = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
  switch (ours, theirs) {
  case (let ours?, let theirs?):
    check(same(ours, theirs), "values differ from JSONSerialization's")
  case (nil, _?):
    // Intended differences (JSONStrictTests): we refuse duplicate keys, trailing commas, NUL bytes
    // (Foundation stops reading there) and nesting deeper than JSON.maxDepth.
    if bytes.contains(0) { return }
    let message: String
    do { _ = try JSON.parse(bytes: bytes); return } catch { message = error.message }
    if message.contains("duplicate key") || message.contains("nesting deeper") { return }
    if hasTrailingComma(bytes) { return }
    // Foundation reads UTF-16 and UTF-32 (by BOM or NUL pattern) and skips a UTF-8 BOM; we read UTF-8.
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) || bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) { return }
    check(false, "JSONSerialization accepts what we refuse (\(message))")
  case (_?, nil):
    check(false, "we accept what JSONSerialization refuses")
  case (nil, nil): return
  }
}

/// A `,` followed (after whitespace) by `]` or `}` outside strings.
private func hasTrailingComma(_ bytes: [UInt8]) -> Bool {
  var inString = false, escaped = false, comma = false
  for b in bytes {
    if inString {
      if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
      continue
    }
    switch b {
    case 0x22: inString = true; comma = false
    case 0x2C: comma = true
    case 0x5D, 0x7D: if comma { return true }
    case 0x20, 0x09, 0x0A, 0x0D: break
    default: comma = false
    }
  }
  return false
}

/// Our value and Foundation's agree. Foundation reads non-integers and integers beyond 64 bits through
/// Decimal (38 digits) and its doubleValue is not correctly rounded: `[9999999999999991999…]` (129
/// digits) is 1e128 there, 9.999999999999991e127 (correct) here; so Doubles agree to 1e-12.
private func same(_ a: JSON, _ b: Any) -> Bool {
  switch a {
  case .null: return b is NSNull
  case .bool(let x): return (b as? Bool) == x
  case .int(let x): return (b as? NSNumber)?.int64Value == x
  case .uint(let x): return (b as? NSNumber)?.uint64Value == x
  case .number(let x):
    guard let y = (b as? NSNumber)?.doubleValue else { return false }
    return y == x || abs(y - x) <= abs(x) * 1e-12
  case .string(let x): return (b as? String) == x
  case .array(let xs):
    guard let ys = b as? [Any], ys.count == xs.count else { return false }
    return zip(xs, ys).allSatisfy { same($0, $1) }
  case .object(let ms):
    guard let d = b as? [String: Any], d.count == ms.count else { return false }
    return ms.allSatisfy { k, v in d[k].map { same(v, $0) } ?? false }
  }
}

// MARK: imageref

private func fuzzImageReference(_ bytes: [UInt8]) {
  let text = String(decoding: bytes, as: UTF8.self)
  guard let ref = try? ImageReference(parsing: text) else { return }
  let form = ref.description
  let again: ImageReference
  do { again = try ImageReference(parsing: form) } catch {
    check(false, "\(text.debugDescription) parsed to \(form.debugDescription), which does not re-parse: \(error)")
    return
  }
  check(again == ref, "\(text.debugDescription) → \(form.debugDescription) → \(again.description.debugDescription)")
}

// MARK: toml

private func fuzzTOML(_ bytes: [UInt8]) {
  let text = String(decoding: bytes, as: UTF8.self)
  guard let policy = try? TrustTOMLPolicy(parsing: text, file: "policy.toml") else { return }
  let written = policy.serialized()
  let again: TrustTOMLPolicy
  do { again = try TrustTOMLPolicy(parsing: written, file: "policy.toml") } catch {
    check(false, "a policy's serialized form does not read back: \(error)\n\(written)")
    return
  }
  check(again == policy, "serialize → parse changes the policy:\n\(written)")
}

// MARK: manifest

private func fuzzManifest(_ bytes: [UInt8]) {
  // As LiftoffImage reads a registry's documents: through decodeJSON (JSONDecoder behind a depth guard).
  let data = Data(bytes)
  if let m = try? decodeJSON(ImageManifest.self, from: data) { try? m.validate("manifest") }
  if let i = try? decodeJSON(ImageIndex.self, from: data) {
    _ = try? i.select(Platform(architecture: "amd64", os: "linux"), what: "index")
  }
  if let p = try? decodeJSON(ManifestProbe.self, from: data) { _ = p.effectiveMediaType }
  guard let json = try? JSON.parse(bytes: bytes) else { return }
  // A config read is written back (ImageConfig.json, as for configs converted from ACIs) and reads
  // back the same.
  if let ours = try? ImageConfig(json: json, in: "config") {
    check((try? ImageConfig(json: JSON.parse(ours.json.serialized()), in: "config")) == ours, "ImageConfig.json does not read back")
  }
  if let pod = try? PodManifest(json: json) {
    let again = try? PodManifest(json: JSON.parse(pod.json.serialized()))
    check(again != nil, "a pod manifest's own json does not read back")
  }
}

// MARK: cniresult

private func fuzzCNI(_ bytes: [UInt8]) {
  guard let json = try? JSON.parse(bytes: bytes) else { return }
  if let result = try? CNIResult(json: json, source: "fuzz") { _ = result.podIPs }
  if let list = try? CNINetworkConfigList(json: json, source: "fuzz") { _ = list.plugins.count }
  _ = try? CNINetworkConfigList(singlePlugin: json, source: "fuzz")
}

// MARK: attach

private func fuzzAttach(_ bytes: [UInt8]) {
  // The first byte picks the direction; the rest is a stream of frames, decoded as the readers do.
  guard let first = bytes.first else { return }
  let direction: AttachFrame.Direction = first & 1 == 0 ? .toStage1 : .toClient
  var rest = bytes[1...]
  while true {
    let decoded: (AttachFrame, Int)?
    do { decoded = try AttachFrame.decode(rest, direction: direction) } catch { break }
    guard let (frame, used) = decoded else { break }
    check(used >= 5 && used <= rest.count, "decode used \(used) of \(rest.count) bytes")
    let wire = Array(rest.prefix(used))
    // Re-encoding gives the same bytes, except that types without payload ignore theirs.
    if frame != .stdinClosed && frame != .helloWithStdin {
      check(frame.encoded == wire, "\(frame) encodes to other bytes than it was decoded from")
    }
    rest = rest.dropFirst(used)
  }

  // The CRI log splitter: every record is `<ts> <stream> <F|P> <content>\n`, P records carry exactly
  // maxLineBytes, and the contents joined back (with a newline after each F) are the input.
  var splitter = CRILogSplitter(stream: "stdout")
  let ts = "2026-01-01T00:00:00.000000000Z"
  // Feed in two chunks split where the first byte says, as reads arrive.
  let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
  let out = splitter.feed(bytes[..<cut], timestamp: ts) + splitter.feed(bytes[cut...], timestamp: ts)
    + splitter.finish(timestamp: ts)
  var content: [UInt8] = []
  var i = 0
  let prefixF = Array("\(ts) stdout F ".utf8), prefixP = Array("\(ts) stdout P ".utf8)
  while i < out.count {
    let head = Array(out[i..<min(out.count, i + prefixF.count)])
    let full = head == prefixF
    check(full || head == prefixP, "record at \(i) has no CRI header")
    i += prefixF.count
    guard let nl = out[i...].firstIndex(of: 0x0A) else { check(false, "record at \(i) has no newline"); return }
    let body = out[i..<nl]
    if !full { check(body.count == CRILogSplitter.maxLineBytes, "partial record of \(body.count) bytes") }
    content += body
    if full { content.append(0x0A) }
    i = nl + 1
  }
  // finish() ends the last line with a newline of its own.
  let expected = bytes.last == 0x0A || bytes.isEmpty ? bytes : bytes + [0x0A]
  check(content == expected, "log records do not carry the input")
}

// MARK: streaming (LiftoffStreaming)

/// Runs async code to its end on this thread's behalf (the readers are async; nothing here waits on
/// the network, so it only hops executors).
private func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
  let result = Mutex<T?>(nil)
  let done = DispatchSemaphore(value: 0)
  Task {
    let r = await body()
    result.withLock { $0 = r }
    done.signal()
  }
  done.wait()
  return result.withLock { $0! }
}

/// A ByteReader over `bytes`, handed out in chunks whose sizes cycle through `sizes` (at least 1).
private func chunkedReader(_ bytes: [UInt8], sizes: [Int]) -> ByteReader {
  var offset = 0
  var i = 0
  return ByteReader {
    guard offset < bytes.count else { return nil }
    let n = min(bytes.count - offset, max(1, sizes.isEmpty ? bytes.count : sizes[i % sizes.count]))
    i += 1
    defer { offset += n }
    return Array(bytes[offset..<offset + n])
  }
}

private func fuzzSPDY(_ bytes: [UInt8]) {
  guard let inflater = try? SPDYHeaderInflater(), let deflater = try? SPDYHeaderDeflater(),
    let again = try? SPDYHeaderInflater()
  else { return check(false, "zlib streams cannot be set up") }
  var offset = 0
  while bytes.count - offset >= 8 {
    let header = Array(bytes[offset..<offset + 8])
    let length = SPDYFrame.payloadLength(header: header)
    check(length >= 0 && length <= SPDYConnection.maxFrameLength, "payload length \(length)")
    guard bytes.count - offset - 8 >= length else { break }
    let payload = Array(bytes[offset + 8..<offset + 8 + length])
    offset += 8 + length
    // A decode error ends a connection (GOAWAY): so it ends the input here.
    guard let frame = try? SPDYFrame.decode(header: header, payload: payload, inflater: inflater) else { break }
    if case .unknown = frame { continue }
    // What this side would send of the same frame reads back to it.
    guard let wire = try? frame.encode(deflater: deflater) else { return check(false, "\(frame) cannot be encoded") }
    check(wire.count >= 8 && SPDYFrame.payloadLength(header: Array(wire[0..<8])) == wire.count - 8, "\(frame): encoded length")
    let decoded = try? SPDYFrame.decode(header: Array(wire[0..<8]), payload: Array(wire[8...]), inflater: again)
    check(decoded == frame, "\(frame) re-encodes to a frame that decodes to \(String(describing: decoded))")
  }
}

private func fuzzSPDYHeaders(_ bytes: [UInt8]) {
  func roundTrip(_ headers: SPDYHeaders) {
    let block = headers.encodeBlock()
    check((try? SPDYHeaders.decodeBlock(block)) == headers, "\(headers.pairs) does not read back from its block")
    guard let deflater = try? SPDYHeaderDeflater(), let inflater = try? SPDYHeaderInflater() else { return }
    let compressed = try? deflater.compress(block)
    check(compressed.flatMap { try? inflater.decompress($0) } == block, "a block does not inflate back")
  }
  // As a peer's compressed block (the first one of its zlib stream).
  if let inflater = try? SPDYHeaderInflater(), let block = try? inflater.decompress(bytes) {
    check(block.count <= 1 << 20, "inflated \(block.count) bytes, over the 1 MiB limit")
    if let headers = try? SPDYHeaders.decodeBlock(block) { roundTrip(headers) }
  }
  // As an uncompressed block.
  if let headers = try? SPDYHeaders.decodeBlock(bytes) {
    check(headers.pairs.allSatisfy { !$0.name.isEmpty && $0.name == $0.name.lowercased() }, "header names not lowercase")
    roundTrip(headers)
  }
}

private func fuzzWebSocket(_ bytes: [UInt8]) {
  // The first byte: who reads (bit 0: the server, which requires masks), and the chunk sizes.
  guard let first = bytes.first else { return }
  let server = first & 1 == 0
  let input = Array(bytes.dropFirst())
  let channel = EmbeddedChannel()
  defer { _ = try? channel.finish() }
  do { try WebSocket.addFrameHandlers(to: channel, role: server ? .server : .client) } catch { return check(false, "handlers: \(error)") }
  var sizes = [Int(first >> 1) + 1, 1, 7, 4096].makeIterator()
  var offset = 0
  var frames: [WebSocketFrame] = []
  var failed = false
  while offset < input.count && !failed {
    let n = min(input.count - offset, sizes.next() ?? 4096)
    do { try channel.writeInbound(ByteBuffer(bytes: input[offset..<offset + n])) } catch { failed = true }
    offset += n
    while let frame = try? channel.readInbound(as: WebSocketFrame.self) { frames.append(frame) }
  }
  // What a session gets: whole data messages within the limit, control frames whole and short, masked
  // when the server reads, no reserved bits or unknown opcodes.
  var wire: [UInt8] = []
  for frame in frames {
    let payload = frame.unmaskedData
    check(payload.readableBytes <= WebSocket.maxMessage, "payload of \(payload.readableBytes) bytes")
    check(!(frame.rsv1 || frame.rsv2 || frame.rsv3), "reserved bits passed")
    check(WebSocketFrameCheck.opcodes.contains(frame.opcode) && frame.opcode != .continuation, "\(frame.opcode) passed")
    if frame.opcode == .ping || frame.opcode == .pong || frame.opcode == .connectionClose {
      check(frame.fin && payload.readableBytes <= 125, "long or fragmented control frame")
    } else {
      check(frame.fin, "a data message not whole")
    }
    // Written again by the other side (masked when a client writes) and read back: the same frame.
    let back = EmbeddedChannel()
    defer { _ = try? back.finish() }
    try? WebSocket.addFrameHandlers(to: back, role: server ? .client : .server)
    var copy = WebSocketFrame(fin: true, opcode: frame.opcode, maskKey: server ? nil : WebSocketMaskingKey([1, 2, 3, 4]), data: payload)
    copy.fin = true
    try? back.writeOutbound(copy)
    wire.removeAll()
    while let b = try? back.readOutbound(as: ByteBuffer.self) { wire += b.readableBytesView }
    let reader = EmbeddedChannel()
    defer { _ = try? reader.finish() }
    try? WebSocket.addFrameHandlers(to: reader, role: server ? .client : .server)
    try? reader.writeInbound(ByteBuffer(bytes: wire))
    let again = try? reader.readInbound(as: WebSocketFrame.self)
    check(again?.opcode == frame.opcode && again?.unmaskedData == payload,
          "\(frame.opcode) frame of \(payload.readableBytes) bytes does not read back")
  }
}

/// What reaches the end of the pipeline after an upgrade: the bytes the session would read.
private final class UpgradedBytes: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  var bytes: [UInt8] = []
  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var buffer = unwrapInboundIn(data)
    bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
  }
}

private func fuzzHTTPHead(_ bytes: [UInt8]) {
  guard let first = bytes.first else { return }
  let input = Array(bytes.dropFirst())
  let limit = HTTPHead.maxHeadSize
  let channel = EmbeddedChannel()
  defer { _ = try? channel.finish() }
  let upgraded = UpgradedBytes()
  var routed: HTTPRequestHead?
  let request = StreamRequest.portForward(.init(podSandboxID: "p", ports: []))
  // The server's handlers with a route of our own: a head that asks for an upgrade (the server's test,
  // HTTPHead.upgradeProtocol) gets it on /s… (SPDY) and /w… (WebSocket), the rest 404.
  let outcome = try! HTTPHeadRouter.install(
    on: channel, headTimeout: .seconds(10),
    route: { head in
      routed = head
      guard HTTPHead.upgradeProtocol(head) != nil else { return .refuse(.badRequest, body: "unable to upgrade") }
      if head.uri.hasPrefix("/s") { return .spdy(request, protocol: "portforward.k8s.io") }
      if head.uri.hasPrefix("/w") { return .webSocket(request, protocol: "SPDY/3.1+portforward.k8s.io", accept: "x") }
      return .refuse(.notFound, body: "no streaming endpoint")
    },
    handOff: { _, channel in
      try channel.pipeline.syncOperations.addHandler(upgraded)
      return .none
    })
  _ = try? channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
  // The input in chunks whose sizes the first byte chooses, as long as the connection is open.
  var offset = 0
  var sizes = [Int(first) + 1, 3].makeIterator()
  while offset < input.count && channel.isActive {
    let n = min(input.count - offset, sizes.next() ?? 3)
    _ = try? channel.writeInbound(ByteBuffer(bytes: input[offset..<offset + n]))
    channel.embeddedEventLoop.run()
    offset += n
  }
  var written: [UInt8] = []
  while let part = try? channel.readOutbound(as: IOData.self) {
    guard case .byteBuffer(var b) = part else { continue }
    written += b.readBytes(length: b.readableBytes) ?? []
  }
  let response = String(decoding: written.prefix(12), as: UTF8.self)
  let status = response.hasPrefix("HTTP/1.1 ") ? Int(response.dropFirst(9).prefix(3)) : nil
  check(written.isEmpty || [101, 400, 404, 431].contains(status ?? 0), "response \(response.debugDescription)")
  if let routed {
    let size = routed.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
    check(size <= limit, "a head with \(size) bytes of headers was routed")
    check(routed.uri.utf8.count <= limit || status == 431, "a request line of \(routed.uri.utf8.count) bytes was routed")
  }
  if status == 101 {
    // Nothing lost or repeated at the hand-off: the bytes after the head, all of them, in order.
    check(routed != nil, "101 without a routed head")
    check(channel.isActive && offset == input.count, "upgraded connection closed")
    check(input.count - upgraded.bytes.count >= 4 && Array(input.suffix(upgraded.bytes.count)) == upgraded.bytes,
          "the \(upgraded.bytes.count) bytes handed on are not the end of the input")
    check((try? outcome.wait()) != nil, "no outcome")
  } else {
    check(upgraded.bytes.isEmpty, "bytes handed on without an upgrade")
  }
  if [400, 404, 431].contains(status ?? 0) { check(!channel.isActive, "connection open after an error") }
}

private func fuzzGRPCFrames(_ bytes: [UInt8]) {
  guard let first = bytes.first else { return }
  let input = Array(bytes.dropFirst())
  let channel = EmbeddedChannel()
  defer { _ = try? channel.finish() }
  try! channel.pipeline.syncOperations.addHandler(
    RPCConnectionHandler(methods: [:], limits: RPCServerLimits(), statusOf: { _ in RPCStatus(code: 2, message: "x") }))
  _ = try? channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
  _ = try? channel.writeInbound(ByteBuffer(bytes: clientPreface))
  var offset = 0
  var sizes = [Int(first) + 1, 9, 64].makeIterator()
  while offset < input.count && channel.isActive {
    let n = min(input.count - offset, sizes.next() ?? 64)
    _ = try? channel.writeInbound(ByteBuffer(bytes: input[offset..<offset + n]))
    channel.embeddedEventLoop.run()
    offset += n
  }
  var written = ByteBuffer()
  while var part = try? channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&part) }
  // The peer's SETTINGS_MAX_FRAME_SIZE as the input set it (the last value; 16,384 until then).
  var maxFrame = 16_384
  var scan = ByteBuffer(bytes: input)
  while scan.readableBytes >= 9, let n = scan.getInteger(at: scan.readerIndex, as: UInt32.self).map({ Int($0 >> 8) }),
    scan.readableBytes >= 9 + n
  {
    let type = scan.getInteger(at: scan.readerIndex + 3, as: UInt8.self)!
    let flags = scan.getInteger(at: scan.readerIndex + 4, as: UInt8.self)!
    scan.moveReaderIndex(forwardBy: 9)
    var payload = scan.readSlice(length: n)!
    if type == 4 && flags & 1 == 0 {
      while let id = payload.readInteger(as: UInt16.self), let v = payload.readInteger(as: UInt32.self) {
        if id == 5 && v >= 16_384 && v <= 16_777_215 { maxFrame = max(maxFrame, Int(v)) }
      }
    }
  }
  var goAwayError = false
  while written.readableBytes > 0 {
    check(written.readableBytes >= 9, "\(written.readableBytes) bytes written after the last whole frame")
    let n = Int(written.getInteger(at: written.readerIndex, as: UInt32.self)! >> 8)
    let type = written.getInteger(at: written.readerIndex + 3, as: UInt8.self)!
    let flags = written.getInteger(at: written.readerIndex + 4, as: UInt8.self)!
    check(n <= maxFrame, "a frame of \(n) bytes")
    check(written.readableBytes >= 9 + n, "a frame cut short")
    written.moveReaderIndex(forwardBy: 9)
    var payload = written.readSlice(length: n)!
    if type == 1 {
      check(flags & 0x4 != 0, "our answers' header blocks fit a frame here")
      var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
      check((try? decoder.decodeHeaders(from: &payload)) != nil, "a header block we wrote does not decode")
    }
    if type == 7 { goAwayError = payload.getInteger(at: payload.readerIndex + 4, as: UInt32.self) != 0 }
  }
  if goAwayError { check(!channel.isActive, "connection open after a GOAWAY with an error") }
}

#else
@main
struct LiftoffFuzz {
  static func main() {
    print("liftoff-fuzz: this is the plain build; build and run the fuzz targets with hack/fuzz.sh")
  }
}
#endif
