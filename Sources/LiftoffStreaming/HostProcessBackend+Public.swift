// What a backend in another module (LiftoffCRI's ContainerStreamingBackend) uses of the host backend:
// spawning a host process wired to a session's streams, and relaying a connected socket to a
// port-forward stream. Kept apart from HostProcessBackend.swift so that its internals (HostProcess,
// the fd pumps) stay internal.
import LiftoffCore

extension HostProcessBackend {
  /// Spawns `argv` on the host with the session's streams as its stdio (a pty with `tty`), copies until
  /// it exits and its output is written, and returns its exit status; cancellation kills its process
  /// group. `controllingTTY` false: the pty is the child's stdio but not its controlling terminal (it
  /// leads a new process group), so that a process it starts may take the terminal. `signalResize`: the
  /// process also gets SIGWINCH after each size change. `environment`: the process's whole environment
  /// (nil: a shell's PATH, HOME and, with `tty`, TERM).
  public static func runProcess(
    _ argv: [String], tty: Bool, io: StreamIO, controllingTTY: Bool = true, signalResize: Bool = false,
    environment: [String]? = nil
  ) async throws -> Int32 {
    let process = try HostProcess.spawn(
      cmd: argv, tty: tty, stdin: io.stdin != nil, stdout: io.stdout != nil, stderr: io.stderr != nil,
      controllingTTY: controllingTTY, environment: environment)
    return try await run(process, tty: tty, io: io, signalResize: signalResize)
  }

  /// Connects 127.0.0.1:`port` with `socket` (a TCP socket of the host's network namespace when nil;
  /// it is closed in every case) and copies between it and `stream` until both directions ended.
  public static func forwardLoopback(port: UInt16, socket: Int32? = nil, stream: PortForwardStream) async throws {
    try await forward(try connectLoopback(port: port, socket: socket), stream: stream)
  }
}
