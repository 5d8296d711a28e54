// Operations on one pod are serialised; different pods proceed in parallel (CRI contract, issue 5).
// A keyed async mutex: callers for the same key wait in FIFO order.
actor PodLocks {
  private var held: Set<String> = []
  private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

  func withLock<T: Sendable>(_ key: String, _ body: @Sendable () async throws -> T) async throws -> T {
    await acquire(key)
    defer { release(key) }
    return try await body()
  }

  private func acquire(_ key: String) async {
    if !held.contains(key) {
      held.insert(key)
      return
    }
    await withCheckedContinuation { waiters[key, default: []].append($0) }
  }

  private func release(_ key: String) {
    if var queue = waiters[key], !queue.isEmpty {
      let next = queue.removeFirst()
      waiters[key] = queue.isEmpty ? nil : queue
      next.resume()  // ownership passes to the next waiter; `held` keeps the key
    } else {
      held.remove(key)
    }
  }
}
