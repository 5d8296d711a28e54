// Moving bytes between file descriptors (pipes, a pty master, a TCP socket) and async code without
// blocking Swift's cooperative threads: a blocking read loop on its own thread hands over one chunk at
// a time (the consumer's pace is the reader's pace), blocking writes run on Dispatch.
import Dispatch
import Foundation
import LiftoffCore
import Synchronization

/// Chunks read from `fd` until EOF or an error (EIO from a pty master whose slave closed is EOF).
/// The fd is not closed here.
final class FDReadPump: Sendable {
  let chunks: AsyncStream<[UInt8]>
  private let ack = DispatchSemaphore(value: 0)
  private let stopped = AtomicFlag()

  init(fd: Int32, chunkSize: Int = 32768) {
    let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
    chunks = stream
    let ack = self.ack
    let stopped = self.stopped
    continuation.onTermination = { _ in
      stopped.set()
      ack.signal()
    }
    let thread = Thread {
      var buffer = [UInt8](repeating: 0, count: chunkSize)
      while !stopped.isSet {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, chunkSize) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        continuation.yield(Array(buffer[0..<n]))
        ack.wait()
      }
      continuation.finish()
    }
    thread.name = "liftoff-fd-read"
    thread.start()
  }

  /// The consumer has handled the last chunk: read the next.
  func next() { ack.signal() }

  /// Copies every chunk to `sink` until EOF; stops (and lets the thread go) if the sink fails.
  func copy(to sink: OutputSink) async throws {
    for await chunk in chunks {
      try await sink.write(chunk)
      next()
    }
  }
}

/// Writes all of `bytes` to `fd` on a Dispatch thread.
func writeAll(fd: Int32, _ bytes: [UInt8]) async throws {
  try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
    DispatchQueue.global().async {
      var offset = 0
      while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 {
          if errno == EINTR { continue }
          c.resume(throwing: SystemCallError("write", errno: errno))
          return
        }
        offset += n
      }
      c.resume()
    }
  }
}

/// A Bool set once, shared by reference (Atomic itself cannot be captured).
final class AtomicFlag: Sendable {
  private let value = Atomic<Bool>(false)
  func set() { value.store(true, ordering: .sequentiallyConsistent) }
  var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}
