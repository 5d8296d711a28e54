// PullImage's stall timeout (`image-pull-progress-timeout`, default 5m as containerd's
// image_pull_progress_timeout; 0 turns it off): a pull that receives no byte for that long is
// cancelled and fails with DEADLINE_EXCEEDED, naming the image, the timeout and the bytes received.
// A pull that keeps receiving bytes may take as long as it takes. Progress is this pull's own bytes:
// a pull waiting for another pull of the same blob (the store's lock) sees none meanwhile.
import GRPCCore
import LiftoffCore
import LiftoffImage

extension ImageService {
  static func withProgressTimeout<T: Sendable>(
    _ timeout: Duration?, progress: PullProgress, image: String, _ body: @escaping @Sendable () async throws -> T
  ) async throws -> T {
    guard let timeout else { return try await body() }
    return try await withThrowingTaskGroup(of: T?.self) { group in
      group.addTask { try await body() }
      group.addTask {
        var seen = progress.done
        var lastChange = ContinuousClock.now
        let tick = min(timeout / 10, .seconds(1))
        while true {
          try await Task.sleep(for: tick)
          let done = progress.done
          if done != seen {
            seen = done
            lastChange = .now
          } else if ContinuousClock.now - lastChange >= timeout {
            throw LiftoffError(
              .deadlineExceeded,
              "pull of \(image) cancelled: no progress for \(CRIConfig.format(timeout)) (image-pull-progress-timeout); \(done) bytes received")
          }
        }
      }
      defer { group.cancelAll() }
      while let result = try await group.next() {
        if let result { return result }
      }
      throw CancellationError()
    }
  }
}
