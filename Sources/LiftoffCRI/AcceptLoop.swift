// The metrics endpoint's accept loop (the streaming server, in LiftoffStreaming, has its own with a
// connection cap): every accepted connection is served by a task of its own; when the listening channel closes (shutdown) or the returned task is
// cancelled, the connections' tasks are cancelled and awaited.
import Logging
import NIOCore

func acceptConnections<Inbound: Sendable, Outbound: Sendable>(
  _ channel: NIOAsyncChannel<NIOAsyncChannel<Inbound, Outbound>, Never>, logger: Logger, what: String,
  serve: @escaping @Sendable (NIOAsyncChannel<Inbound, Outbound>) async -> Void
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
