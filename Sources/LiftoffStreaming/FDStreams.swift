// Moving bytes between file descriptors (pipes, a pty master, a TCP socket) and async code without
// blocking Swift's cooperative threads: a blocking read loop on its own thread hands over one chunk at
// a time (the consumer's pace is the reader's pace), blocking writes run on Dispatch.
import Dispatch
import Foundation
import LiftoffCore
import Synchronization

/// Chunks read from `fd` until EOF or an error (EIO from a pty master whose slave closed is EOF).
/// The fd is not closed here.
public final class FDReadPump: Sendable {
  public let chunks: AsyncStream<[UInt8]>
  private let ack = DispatchSemaphore(value: 0)
  private let stopped = AtomicFlag()

  public init(fd: Int32, chunkSize: Int = 32768) {
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
  public func next() { ack.signal() }

  /// Copies every chunk to `sink` until EOF; stops (and lets the thread go) if the sink fails.
  public func copy(to sink: OutputSink) async throws {
    for await chunk in chunks {
      try await sink.write(chunk)
      next()
    }
  }
}

/// Blocking writes to `fd` on a thread of its own, in order. (Not on Dispatch's global queue: its
/// width is the number of CPUs, and a few blocked writes or waits would stall every other user.)
public final class FDWriter: Sendable {
  private enum Item {
    case write([UInt8], CheckedContinuation<Void, any Error>)
    case stop
  }
  private final class Queue: Sendable {
    let items = Mutex<(list: [Item], stopped: Bool)>(([], false))
  }
  private let queue = Queue()
  private let ready = DispatchSemaphore(value: 0)
  private let exited = DispatchSemaphore(value: 0)

  public init(fd: Int32) {
    let queue = self.queue
    let ready = self.ready
    let exited = self.exited
    let thread = Thread {
      defer { exited.signal() }
      while true {
        ready.wait()
        guard let item = queue.items.withLock({ $0.list.isEmpty ? nil : $0.list.removeFirst() }) else { continue }
        guard case .write(let bytes, let c) = item else {
          // Fail whatever was queued behind the stop.
          let rest = queue.items.withLock { q in
            defer { q.list.removeAll() }
            return q.list
          }
          for case .write(_, let c) in rest { c.resume(throwing: SystemCallError("write", errno: EBADF)) }
          return
        }
        var offset = 0
        var failure: Int32 = 0
        while offset < bytes.count {
          let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
          if n < 0 {
            if errno == EINTR { continue }
            failure = errno
            break
          }
          offset += n
        }
        if failure != 0 { c.resume(throwing: SystemCallError("write", errno: failure)) } else { c.resume() }
      }
    }
    thread.name = "liftoff-fd-write"
    thread.start()
  }

  /// Writes all of `bytes`; throws once the writer is stopped or the write fails.
  public func write(_ bytes: [UInt8]) async throws {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
      let accepted = queue.items.withLock { q -> Bool in
        if q.stopped { return false }
        q.list.append(.write(bytes, c))
        return true
      }
      if accepted { ready.signal() } else { c.resume(throwing: SystemCallError("write", errno: EBADF)) }
    }
  }

  /// Ends the thread after the writes queued so far; later writes fail.
  public func stop() {
    let first = queue.items.withLock { q -> Bool in
      defer { q.stopped = true }
      if !q.stopped { q.list.append(.stop) }
      return !q.stopped
    }
    if first { ready.signal() }
  }

  /// stop(), then waits until the thread no longer touches the fd (so it may be closed).
  public func stopAndWait() async {
    stop()
    let exited = self.exited
    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
      Thread.detachNewThread {
        exited.wait()
        exited.signal()
        c.resume()
      }
    }
  }

  /// Writes everything from `input`, then stops.
  public func copy(from input: AsyncStream<[UInt8]>) async throws {
    defer { stop() }
    for await chunk in input { try await write(chunk) }
  }
}

/// A Bool set once, shared by reference (Atomic itself cannot be captured).
final class AtomicFlag: Sendable {
  private let value = Atomic<Bool>(false)
  func set() { value.store(true, ordering: .sequentiallyConsistent) }
  var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}
