// What a streaming URL stands for: the CRI Exec, Attach or PortForward request it was made for.
// The server looks it up by the URL's one-use token (StreamTokenCache).

public enum StreamRequest: Sendable, Equatable {
  case exec(ExecRequest)
  case attach(AttachRequest)
  case portForward(PortForwardRequest)

  public struct ExecRequest: Sendable, Equatable {
    public var containerID: String
    public var cmd: [String]
    public var tty: Bool
    public var stdin: Bool
    public var stdout: Bool
    public var stderr: Bool

    public init(containerID: String, cmd: [String], tty: Bool, stdin: Bool, stdout: Bool, stderr: Bool) {
      self.containerID = containerID
      self.cmd = cmd
      self.tty = tty
      self.stdin = stdin
      self.stdout = stdout
      // kubelet: with a tty there is no separate stderr.
      self.stderr = stderr && !tty
    }
  }

  public struct AttachRequest: Sendable, Equatable {
    public var containerID: String
    public var tty: Bool
    public var stdin: Bool
    public var stdout: Bool
    public var stderr: Bool

    public init(containerID: String, tty: Bool, stdin: Bool, stdout: Bool, stderr: Bool) {
      self.containerID = containerID
      self.tty = tty
      self.stdin = stdin
      self.stdout = stdout
      self.stderr = stderr && !tty
    }
  }

  public struct PortForwardRequest: Sendable, Equatable {
    public var podSandboxID: String
    /// The ports the client asked for; empty allows any (the client names the port per stream).
    public var ports: [UInt16]

    public init(podSandboxID: String, ports: [UInt16]) {
      self.podSandboxID = podSandboxID
      self.ports = ports
    }
  }

  /// The URL path's first element.
  var kind: String {
    switch self {
    case .exec: "exec"
    case .attach: "attach"
    case .portForward: "portforward"
    }
  }
}
