// liftoff-cri spends its life waiting for kubelet. Two seconds after a burst of RPCs it gives back the
// code and read-only data pages the burst touched (MemoryTrim.dropCleanFileMappings: clean file pages
// only; they stay in the page cache and come back on the next request at the cost of minor faults)
// and returns freed heap to the kernel. See hack/bench-cri.sh for the effect on RSS.
import Foundation
import LiftoffOS
import Synchronization

final class IdleTrimmer: Sendable {
  private let state = Mutex<(lastActivity: ContinuousClock.Instant, trimmed: Bool)>((.now, false))
  static let idle: Duration = .seconds(2)

  func noteActivity() {
    state.withLock { $0 = (.now, false) }
  }

  /// Runs until cancelled.
  func run() async {
    while !Task.isCancelled {
      try? await Task.sleep(for: Self.idle)
      let due = state.withLock { s -> Bool in
        guard !s.trimmed, ContinuousClock.now - s.lastActivity >= Self.idle else { return false }
        s.trimmed = true
        return true
      }
      if due { MemoryTrim.dropCleanFileMappings() }
    }
  }
}
