// Where a protocol writes its bytes (a TCP channel, or WebSocket binary messages), and the lock that
// keeps whole frames in order when several tasks write to one connection.

protocol ByteWriter: Sendable {
  func write(_ bytes: [UInt8]) async throws
  /// Closes the transport (the reader then sees the end of the stream).
  func close() async
  /// Ends this side's output only (TCP: a FIN; WebSocket: the close frame): the peer reads to the end
  /// and closes, which this side's reader sees. Writers without a half-close close.
  func closeOutput() async
}

extension ByteWriter {
  func closeOutput() async { await close() }
}

/// A FIFO lock for async code: the holder may suspend (write to the network) while holding it.
actor AsyncSerial {
  private var locked = false
  private var waiters: [CheckedContinuation<Void, Never>] = []

  private func lock() async {
    if !locked {
      locked = true
      return
    }
    await withCheckedContinuation { waiters.append($0) }
  }

  private func unlock() {
    if waiters.isEmpty { locked = false } else { waiters.removeFirst().resume() }
  }

  nonisolated func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
    await lock()
    do {
      let result = try await body()
      await unlock()
      return result
    } catch {
      await unlock()
      throw error
    }
  }
}
