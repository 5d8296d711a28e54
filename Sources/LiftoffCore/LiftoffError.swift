// The one error type of Liftoff. Every layer throws it; conversion to a gRPC status happens in
// exactly one place (LiftoffCRI), to an exit code and one stderr line in the executables.
// Messages are lowercase and name the path, ID or field involved.

public struct LiftoffError: Error, Sendable, CustomStringConvertible {
  /// What kind of failure this is; maps one-to-one onto gRPC status codes.
  public enum Code: String, Sendable, CaseIterable {
    case invalidArgument = "invalid argument"
    case notFound = "not found"
    case alreadyExists = "already exists"
    case failedPrecondition = "failed precondition"
    case permissionDenied = "permission denied"
    case unimplemented = "unimplemented"
    case unavailable = "unavailable"
    case deadlineExceeded = "deadline exceeded"
    case resourceExhausted = "resource exhausted"
    case aborted = "aborted"
    case `internal` = "internal"
  }

  public var code: Code
  public var message: String
  public var cause: (any Error & Sendable)?

  public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
    self.code = code
    self.message = message
    self.cause = cause
  }

  public var description: String {
    if let cause { return "\(message): \(cause)" }
    return message
  }

  /// The shell exit code a command reports for this error (1 for all but usage errors).
  public var exitCode: Int32 { code == .invalidArgument ? 2 : 1 }

  public static func invalidArgument(_ m: String) -> LiftoffError { .init(.invalidArgument, m) }
  public static func notFound(_ m: String) -> LiftoffError { .init(.notFound, m) }
  public static func unimplemented(_ m: String) -> LiftoffError { .init(.unimplemented, m) }
  public static func `internal`(_ m: String, cause: (any Error & Sendable)? = nil) -> LiftoffError {
    .init(.internal, m, cause: cause)
  }
}

/// An errno from a failed system call, with the call and the path it concerned.
public struct SystemCallError: Error, Sendable, CustomStringConvertible {
  public var call: String
  public var errno: Int32
  public var path: String?

  public init(_ call: String, errno: Int32, path: String? = nil) {
    self.call = call
    self.errno = errno
    self.path = path
  }

  public var description: String {
    let what = path.map { "\(call) \($0)" } ?? call
    return "\(what): \(errnoDescription(errno))"
  }
}
