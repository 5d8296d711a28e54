// What the streaming server needs from the runtime: run a command in a container, join a running
// container's stdio, open a TCP connection to a port of a pod. The server speaks the protocols; the
// backend moves bytes to and from the container. The lead's container backend spawns `liftoff enter`
// (exec), connects to stage1's attach socket (attach) and to the port inside the pod's network namespace
// (port-forward); HostProcessBackend does the same on the host, for tests.
//
// Cancellation: when a session ends early (client gone, server shutdown) the backend's task is
// cancelled; the backend must then stop promptly. Nothing a backend starts may be a child of liftoff-cri
// that outlives the session (the container backend's processes belong to the pod).

/// A terminal size change from the client (the resize stream: `{"Width":80,"Height":24}`).
public struct TerminalSize: Sendable, Equatable, Codable {
  public var width: UInt16
  public var height: UInt16

  public init(width: UInt16, height: UInt16) {
    self.width = width
    self.height = height
  }

  enum CodingKeys: String, CodingKey {
    case width = "Width"
    case height = "Height"
  }
}

/// Where a backend writes one output stream of the process (stdout or stderr). Writes wait while the
/// client is slow (back-pressure); they throw once the client is gone.
public struct OutputSink: Sendable {
  private let writeBytes: @Sendable ([UInt8]) async throws -> Void

  public init(_ write: @escaping @Sendable ([UInt8]) async throws -> Void) {
    writeBytes = write
  }

  public func write(_ bytes: [UInt8]) async throws {
    if !bytes.isEmpty { try await writeBytes(bytes) }
  }
}

/// The client's side of a session as the backend sees it. A stream the client did not ask for is nil.
public struct StreamIO: Sendable {
  /// The client's input; ends when the client closes stdin.
  public var stdin: AsyncStream<[UInt8]>?
  public var stdout: OutputSink?
  /// nil with a tty: the terminal carries both outputs.
  public var stderr: OutputSink?
  /// Terminal size changes (only with a tty); the first one is the initial size.
  public var resize: AsyncStream<TerminalSize>?

  public init(
    stdin: AsyncStream<[UInt8]>?, stdout: OutputSink?, stderr: OutputSink?, resize: AsyncStream<TerminalSize>?
  ) {
    self.stdin = stdin
    self.stdout = stdout
    self.stderr = stderr
    self.resize = resize
  }
}

/// A TCP connection the client asked for, as the backend sees it: bytes from the client until it
/// closes its side, and a way back.
public struct PortForwardStream: Sendable {
  /// Bytes from the client; ends when the client half-closes or resets the stream.
  public var inbound: AsyncStream<[UInt8]>
  public var outbound: OutputSink
  /// Half-closes towards the client (the port's side reached EOF).
  public var closeOutbound: @Sendable () async -> Void

  public init(inbound: AsyncStream<[UInt8]>, outbound: OutputSink, closeOutbound: @escaping @Sendable () async -> Void) {
    self.inbound = inbound
    self.outbound = outbound
    self.closeOutbound = closeOutbound
  }
}

public protocol StreamingBackend: Sendable {
  /// Runs `cmd` in the container and returns its exit code once it has exited and its output has
  /// been written to `io`. Errors (unknown container, command not found) are thrown as LiftoffError.
  func exec(containerID: String, cmd: [String], tty: Bool, io: StreamIO) async throws -> Int32

  /// Joins the running container's stdio until the container exits or the client leaves.
  func attach(containerID: String, tty: Bool, io: StreamIO) async throws

  /// Connects `stream` to TCP `port` in the sandbox's network namespace until both directions ended.
  func portForward(podSandboxID: String, port: UInt16, stream: PortForwardStream) async throws
}
