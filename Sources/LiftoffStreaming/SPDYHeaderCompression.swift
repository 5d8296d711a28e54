// SPDY/3 header-block compression: one zlib stream per direction for the whole connection, primed
// with the SPDY dictionary; every header block ends with a Z_SYNC_FLUSH so the peer can decode it at
// once. One owner per z_stream: each class frees its stream in deinit.
import CZlib
import LiftoffCore

/// Compresses the header blocks this side sends.
final class SPDYHeaderDeflater {
  private var stream = z_stream()

  init() throws {
    guard liftoff_deflate_init(&stream, Z_DEFAULT_COMPRESSION) == Z_OK else {
      throw LiftoffError.internal("spdy: deflateInit failed")
    }
    let rc = SPDYDictionary.bytes.withUnsafeBufferPointer {
      deflateSetDictionary(&stream, $0.baseAddress, uInt($0.count))
    }
    guard rc == Z_OK else { throw LiftoffError.internal("spdy: deflateSetDictionary failed (\(rc))") }
  }

  deinit { deflateEnd(&stream) }

  func compress(_ input: [UInt8]) throws -> [UInt8] {
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: max(256, input.count + 64))
    var input = input
    let count = input.count
    try input.withUnsafeMutableBufferPointer { inBuf in
      stream.next_in = inBuf.baseAddress
      stream.avail_in = uInt(count)
      repeat {
        let produced: Int = try chunk.withUnsafeMutableBufferPointer { outBuf in
          stream.next_out = outBuf.baseAddress
          stream.avail_out = uInt(outBuf.count)
          let rc = deflate(&stream, Z_SYNC_FLUSH)
          guard rc == Z_OK || rc == Z_BUF_ERROR else {
            throw LiftoffError.internal("spdy: deflate failed (\(rc))")
          }
          return outBuf.count - Int(stream.avail_out)
        }
        output += chunk[..<produced]
      } while stream.avail_out == 0
      stream.next_in = nil
    }
    return output
  }
}

/// Decompresses the header blocks the peer sends.
final class SPDYHeaderInflater {
  private var stream = z_stream()

  init() throws {
    guard liftoff_inflate_init(&stream) == Z_OK else { throw LiftoffError.internal("spdy: inflateInit failed") }
  }

  deinit { inflateEnd(&stream) }

  /// Decompresses one header block (the peer flushed at its end). `limit` bounds the output so that
  /// a malicious block cannot exhaust memory.
  func decompress(_ input: [UInt8], limit: Int = 1 << 20) throws -> [UInt8] {
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    var input = input
    let count = input.count
    try input.withUnsafeMutableBufferPointer { inBuf in
      stream.next_in = inBuf.baseAddress
      stream.avail_in = uInt(count)
      defer { stream.next_in = nil }
      while true {
        var rc: Int32 = Z_OK
        let produced: Int = chunk.withUnsafeMutableBufferPointer { outBuf in
          stream.next_out = outBuf.baseAddress
          stream.avail_out = uInt(outBuf.count)
          rc = inflate(&stream, Z_SYNC_FLUSH)
          return outBuf.count - Int(stream.avail_out)
        }
        output += chunk[..<produced]
        if rc == Z_NEED_DICT {
          let set = SPDYDictionary.bytes.withUnsafeBufferPointer {
            inflateSetDictionary(&stream, $0.baseAddress, uInt($0.count))
          }
          guard set == Z_OK else { throw SPDYError.protocolError("header block uses an unknown zlib dictionary") }
          continue
        }
        guard rc == Z_OK || rc == Z_BUF_ERROR || rc == Z_STREAM_END else {
          throw SPDYError.protocolError("header block does not decompress (zlib \(rc))")
        }
        guard output.count <= limit else { throw SPDYError.protocolError("header block larger than \(limit) bytes") }
        if stream.avail_in == 0 && stream.avail_out != 0 { break }
        if rc == Z_BUF_ERROR || rc == Z_STREAM_END { break }
      }
    }
    return output
  }
}
