// The backend liftoff-cri uses until exec/attach/port-forward into containers are wired (they need
// the container lifecycle and `liftoff enter`): every session fails with a clear UNIMPLEMENTED error
// on its error stream, never a fake success. The CRI Exec/Attach/PortForward RPCs stay UNIMPLEMENTED
// until then too, so no client gets a URL that leads here in normal use.
import LiftoffCore

public struct UnwiredStreamingBackend: StreamingBackend {
  public init() {}

  public func exec(containerID: String, cmd: [String], tty: Bool, io: StreamIO) async throws -> Int32 {
    throw LiftoffError.unimplemented("exec into container \(containerID) is not implemented yet")
  }

  public func attach(containerID: String, tty: Bool, io: StreamIO) async throws {
    throw LiftoffError.unimplemented("attach to container \(containerID) is not implemented yet")
  }

  public func portForward(podSandboxID: String, port: UInt16, stream: PortForwardStream) async throws {
    throw LiftoffError.unimplemented("port-forward to pod sandbox \(podSandboxID) is not implemented yet")
  }
}
