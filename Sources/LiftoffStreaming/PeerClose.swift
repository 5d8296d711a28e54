// Ending a connection without a fixed grace period: this side half-closes (a TCP FIN, a WebSocket close
// frame, a SPDY GOAWAY), then waits for the peer's close or EOF — an event — at most for a deadline, and
// only then closes. A peer that has already gone ends the wait at once.
import Synchronization

/// A one-shot event that one task fires (the reader saw the peer's close or EOF) and others await.
final class OneShotEvent: Sendable {
  private struct State {
    var fired = false
    var nextID = 0
    var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
  }
  private let state = Mutex(State())

  init() {}

  var hasFired: Bool { state.withLock { $0.fired } }

  func fire() {
    let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
      guard !s.fired else { return [] }
      s.fired = true
      defer { s.waiters.removeAll() }
      return Array(s.waiters.values)
    }
    for c in waiters { c.resume() }
  }

  /// Returns once fired or the task is cancelled.
  func wait() async {
    let id = state.withLock { s -> Int in
      defer { s.nextID += 1 }
      return s.nextID
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
        // Checked under the lock: a cancellation handler that ran before this found nothing to resume.
        let now = state.withLock { s -> Bool in
          if s.fired || Task.isCancelled { return true }
          s.waiters[id] = c
          return false
        }
        if now { c.resume() }
      }
    } onCancel: {
      state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }
  }

  /// Waits until fired, at most `timeout` (or until the task is cancelled); whether it fired.
  @discardableResult
  func wait(upTo timeout: Duration) async -> Bool {
    await withTaskGroup(of: Void.self) { group in
      group.addTask { await self.wait() }
      group.addTask { try? await Task.sleep(for: timeout) }
      await group.next()
      group.cancelAll()
    }
    return hasFired
  }
}
