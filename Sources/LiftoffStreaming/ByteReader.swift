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

  /// An HTTP/1.1 request head up to and including CRLF CRLF (at most `limit` bytes); nil at EOF.
  func readHTTPHead(limit: Int = 16384) async throws -> [UInt8]? {
    while true {
      var i = start
      while i + 3 < buffer.count {
        if buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
          guard i + 4 - start <= limit else { throw HTTPHeadError.tooLarge }
          let head = Array(buffer[start..<i + 4])
          start = i + 4
          return head
        }
        i += 1
      }
      // Not found in what is buffered: once that is more than a head may be, it cannot be one.
      guard available <= limit else { throw HTTPHeadError.tooLarge }
      guard try await fill() else {
        if available == 0 { return nil }
        throw HTTPHeadError.truncated
      }
    }
  }
}

enum HTTPHeadError: Error {
  case tooLarge, truncated
  case malformed(String)
}
