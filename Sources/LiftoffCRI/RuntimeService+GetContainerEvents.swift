// GetContainerEvents: a stream of lifecycle events until the client goes away (see ContainerEvents.swift).
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func getContainerEvents(
    request: Runtime_V1_GetEventsRequest, response: RPCWriter<Runtime_V1_ContainerEventResponse>,
    context: ServerContext
  ) async throws {
    let (id, stream) = await runtime.events.subscribe(runtime)
    defer { Task { [events = runtime.events] in await events.unsubscribe(id) } }
    for await event in stream {
      try await response.write(event)
    }
  }
}
