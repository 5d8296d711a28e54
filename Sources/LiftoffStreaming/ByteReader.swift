// Buffered reads of exact lengths from a connection that delivers bytes in chunks of any size
// (a TCP channel, or the payloads of WebSocket binary messages). Owned by the one task that reads.

final class ByteReader {
  private let nextChunk: () async throws -> [UInt8]?
  private var buffer: [UInt8] = []
  private var start = 0
  private(set) var atEOF = false

  init(nextChunk: @escaping () async throws -> [UInt8]?) {
    self.nextChunk = nextChunk
  }

  private var available: Int { buffer.count - start }

  /// Reads more; false at end of stream.
  private func fill() async throws -> Bool {
    if atEOF { return false }
    guard let chunk = try await nextChunk() else {
      atEOF = true
      return false
    }
    if start > 0 && start == buffer.count {
      buffer.removeAll(keepingCapacity: true)
      start = 0
    } else if start > 65536 {
      buffer.removeFirst(start)
      start = 0
    }
    buffer += chunk
    return true
  }

  /// Exactly `n` bytes; nil at a clean end of stream before the first byte; an error if the stream
  /// ends in the middle.
  func read(exactly n: Int) async throws -> [UInt8]? {
    while available < n {
      guard try await fill() else {
        if available == 0 { return nil }
        throw SPDYError.protocolError("connection closed in the middle of a frame")
      }
    }
    defer { start += n }
    return Array(buffer[start..<start + n])
  }

  /// Whatever is buffered, or the next chunk; nil at end of stream.
  func readSome() async throws -> [UInt8]? {
    if available == 0 { guard try await fill() else { return nil } }
    defer {
      buffer.removeAll(keepingCapacity: true)
      start = 0
    }
    return Array(buffer[start...])
  }
}
