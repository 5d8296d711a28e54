// The accept loop of liftoff-cri's two HTTP listeners, the streaming server and the metrics endpoint:
// every accepted connection is served by a task of its own; when the listening channel closes
// (shutdown) or the returned task is cancelled, the connections' tasks are cancelled and awaited.
import Logging
import NIOCore

/// Serves each of `channel`'s connections (whatever its child-channel initializer made of them:
/// the streaming server's admitted-or-refused, the metrics endpoint's HTTP channels) in a task of
/// its own, until the channel closes or the task is cancelled.
public func acceptConnections<Connection: Sendable>(
  _ channel: NIOAsyncChannel<Connection, Never>, logger: Logger, what: String,
  serve: @escaping @Sendable (Connection) async -> Void
) -> Task<Void, Never> {
  Task {
    await withDiscardingTaskGroup { group in
      do {
        try await channel.executeThenClose { inbound in
          for try await connection in inbound {
            group.addTask { await serve(connection) }
          }
        }
      } catch {
        if !Task.isCancelled { logger.error("\(what) stopped accepting", metadata: ["error": "\(error)"]) }
      }
      group.cancelAll()
    }
  }
}
