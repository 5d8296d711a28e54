// The one place where Liftoff's errors become gRPC statuses.
import GRPCCore
import LiftoffCore

extension RPCError.Code {
  init(_ code: LiftoffError.Code) {
    switch code {
    case .invalidArgument: self = .invalidArgument
    case .notFound: self = .notFound
    case .alreadyExists: self = .alreadyExists
    case .failedPrecondition: self = .failedPrecondition
    case .permissionDenied: self = .permissionDenied
    case .unimplemented: self = .unimplemented
    case .unavailable: self = .unavailable
    case .deadlineExceeded: self = .deadlineExceeded
    case .resourceExhausted: self = .resourceExhausted
    case .aborted: self = .aborted
    case .internal: self = .internalError
    }
  }
}

/// Converts any error thrown by an RPC body into the `RPCError` the client sees.
func rpcError(_ error: any Error) -> RPCError {
  switch error {
  case let e as RPCError: return e
  case let e as LiftoffError: return RPCError(code: .init(e.code), message: e.description)
  case let e as CancellationError: return RPCError(code: .cancelled, message: "\(e)")
  default: return RPCError(code: .internalError, message: "\(error)")
  }
}

/// Runs an RPC body, logging failures and converting errors in one place.
func handle<T: Sendable>(
  _ rpc: String, _ runtime: CRIRuntime, _ body: () async throws -> T
) async throws -> T {
  let began = ContinuousClock.now
  runtime.trimmer.noteActivity()
  defer { runtime.trimmer.noteActivity() }
  do {
    let result = try await body()
    if runtime.logger.logLevel <= .debug {
      runtime.logger.debug("\(rpc) ok", metadata: ["ms": "\((ContinuousClock.now - began).milliseconds)"])
    }
    return result
  } catch {
    let e = rpcError(error)
    runtime.logger.log(
      level: e.code == .internalError ? .error : .info, "\(rpc) failed",
      metadata: ["code": "\(e.code)", "error": "\(e.message)"])
    throw e
  }
}

/// The answer of every RPC that is not built yet.
func unimplementedRPC(_ name: String) -> RPCError {
  RPCError(code: .unimplemented, message: "\(name) is not implemented by liftoff yet")
}

extension Duration {
  var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
