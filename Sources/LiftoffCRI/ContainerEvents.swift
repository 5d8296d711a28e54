// GetContainerEvents: container and sandbox lifecycle events (created, started, stopped, deleted), as
// kubelet's evented PLEG consumes them. The RPCs that change a pod publish their event once the change
// is on disk; what no RPC did (an app that exits by itself, a pod whose stage1 ended) the pod index
// reports as soon as stage1 tells it or its stage1 is gone (PodIndex.swift). Per ID an event is sent only when it moves
// the lifecycle forward, so an RPC and the watcher never report the same stop twice, and a container's
// events arrive in order: created, started, stopped, deleted.
// Sandbox events carry the sandbox ID as `container_id`, as containerd sends them.
import Foundation
import LiftoffCore
import LiftoffOS

actor ContainerEventHub {
  typealias Event = Runtime_V1_ContainerEventResponse
  private var subscribers: [Int: AsyncStream<Event>.Continuation] = [:]
  private var nextSubscriber = 0
  /// The last event type sent per ID.
  private var last: [String: Runtime_V1_ContainerEventType] = [:]

  var listening: Bool { !subscribers.isEmpty }

  func subscribe(_ runtime: CRIRuntime) -> (Int, AsyncStream<Event>) {
    let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
    let id = nextSubscriber
    nextSubscriber += 1
    if subscribers.isEmpty { seed(runtime) }
    subscribers[id] = continuation
    return (id, stream)
  }

  func unsubscribe(_ id: Int) {
    subscribers.removeValue(forKey: id)?.finish()
  }

  static func order(_ t: Runtime_V1_ContainerEventType) -> Int {
    switch t {
    case .containerCreatedEvent: return 0
    case .containerStartedEvent: return 1
    case .containerStoppedEvent: return 2
    case .containerDeletedEvent: return 3
    case .UNRECOGNIZED(let n): return n
    }
  }

  /// Sends the event if it moves `id` forward; returns whether it was sent.
  @discardableResult
  func publish(_ event: Event) -> Bool {
    let id = event.containerID
    if let previous = last[id], Self.order(previous) >= Self.order(event.containerEventType) { return false }
    last[id] = event.containerEventType
    for c in subscribers.values { c.yield(event) }
    return true
  }

  /// What is on disk now counts as already reported.
  private func seed(_ runtime: CRIRuntime) {
    guard let sandboxes = try? runtime.sandboxes() else { return }
    for s in sandboxes { last[s.id] = s.ready ? .containerStartedEvent : .containerStoppedEvent }
    for c in (try? runtime.containers(in: sandboxes)) ?? [] { last[c.id] = Self.type(of: c.state) }
  }

  static func type(of state: Runtime_V1_ContainerState) -> Runtime_V1_ContainerEventType {
    switch state {
    case .containerCreated: return .containerCreatedEvent
    case .containerRunning: return .containerStartedEvent
    default: return .containerStoppedEvent
    }
  }

  /// The pod index saw pod `old` become `new` on disk: containers that stopped and a sandbox that is no
  /// longer ready are reported (their start and creation were reported by the RPCs that made them).
  func podChanged(from old: CRISandbox?, to new: CRISandbox?) {
    guard listening, let sandbox = new ?? old else { return }
    let containers = CRIRuntime.containers(of: sandbox)
    for c in containers where c.state == .containerExited && last[c.id] == .containerStartedEvent {
      publish(Self.event(.containerStoppedEvent, id: c.id, sandbox: sandbox, containers: containers))
    }
    if !sandbox.ready && last[sandbox.id] == .containerStartedEvent {
      publish(Self.event(.containerStoppedEvent, id: sandbox.id, sandbox: sandbox, containers: containers))
    }
    // Forget what is gone for good.
    if new == nil {
      for id in [sandbox.id] + containers.map(\.id) where last[id] == .containerDeletedEvent { last.removeValue(forKey: id) }
    }
  }

  static func event(
    _ type: Runtime_V1_ContainerEventType, id: String, sandbox: CRISandbox?, containers: [CRIContainer]
  ) -> Event {
    var e = Event()
    e.containerID = id
    e.containerEventType = type
    let now = LiftoffOS.Clock.now()
    e.createdAt = now.seconds * 1_000_000_000 + now.nanoseconds
    if let sandbox {
      e.podSandboxStatus = sandbox.criStatus
      e.containersStatuses = containers.filter { $0.sandbox.id == sandbox.id }.map(\.criStatus)
    }
    return e
  }
}

extension CRIRuntime {
  /// Publishes an event for a container or sandbox whose change is on disk (a no-op when nobody
  /// listens). `sandboxID` names the pod whose statuses the event carries.
  func emit(_ type: Runtime_V1_ContainerEventType, id: String, sandboxID: String) async {
    guard await events.listening else { return }
    let sandbox = try? existingSandbox(sandboxID)
    let containers = sandbox.map { (try? self.containers(in: [$0])) ?? [] } ?? []
    var event = ContainerEventHub.event(type, id: id, sandbox: sandbox, containers: containers)
    if sandbox == nil { event.podSandboxStatus.id = sandboxID }
    await events.publish(event)
  }
}
