// A blocking D-Bus connection over a Unix socket: SASL EXTERNAL authentication, method calls, and
// signals read while waiting (D-Bus Specification, "Authentication Protocol").
//
//   client                                   server (systemd on /run/systemd/private, or dbus-daemon)
//     \0 "AUTH EXTERNAL <hex of uid digits>\r\n" "BEGIN\r\n"  ──▶   (one write)
//                                            ◀──  "OK <server guid>\r\n"
//     messages                               ◀──▶ messages
//
// systemd's private socket (root only) is a direct connection: no bus daemon, no Hello, and systemd
// sends every signal of the manager to it unasked. The system bus needs Hello first. Synchronous and
// single-owner: used by stage1 (single-threaded) and by short liftoff commands.
import Glibc
import LiftoffCore

public final class DBusConnection {
  public let fd: Int32
  public let address: String
  /// Whether a bus daemon routes the messages (system bus): then calls carry a DESTINATION.
  public let viaBus: Bool
  private var nextSerial: UInt32 = 1
  private var buffer: [UInt8] = []
  /// Messages read while waiting for something else (signals before a reply, replies to others).
  private var pending: [DBusMessage] = []

  /// Connects and authenticates; on the system bus it also says Hello.
  public init(path: String, viaBus: Bool, timeoutSeconds: Int = 30) throws(LiftoffError) {
    address = path
    self.viaBus = viaBus
    let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard s >= 0 else { throw .init(.unavailable, "d-bus \(path)", cause: SystemCallError("socket", errno: errno)) }
    fd = s
    UnixSocket.setTimeout(s, seconds: timeoutSeconds)
    do {
      var (addr, len) = try UnixSocket.address(path)
      let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, len) } }
      guard rc == 0 else { throw SystemCallError("connect", errno: errno, path: path) }
    } catch {
      close(s)
      throw .init(.unavailable, "d-bus \(path)", cause: error)
    }
    do {
      try authenticate()
      if viaBus {
        _ = try call(path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "Hello",
                     destination: "org.freedesktop.DBus", timeoutSeconds: Double(timeoutSeconds))
      }
    } catch {
      close(s)
      throw error
    }
  }

  deinit { close(fd) }

  /// systemd's manager: its private socket where we may use it (root), else the system bus.
  public static func systemd(timeoutSeconds: Int = 30) throws(LiftoffError) -> DBusConnection {
    if access("/run/systemd/private", F_OK) == 0 {
      do { return try DBusConnection(path: "/run/systemd/private", viaBus: false, timeoutSeconds: timeoutSeconds) } catch {
        guard access("/run/dbus/system_bus_socket", F_OK) == 0 else { throw error }
      }
    }
    return try DBusConnection(path: "/run/dbus/system_bus_socket", viaBus: true, timeoutSeconds: timeoutSeconds)
  }

  /// The `AUTH EXTERNAL` line for a uid: the uid's decimal digits, hex-encoded.
  public static func authLine(uid: UInt32) -> String {
    let hex = Array("0123456789abcdef".utf8)
    let digits = Array(String(uid).utf8).flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 0xF)]] }
    return "AUTH EXTERNAL \(String(decoding: digits, as: UTF8.self))\r\n"
  }

  /// AUTH and BEGIN go in one write, before the server's OK, as sd-bus's own client sends them: the
  /// server then has read BEGIN before our first message exists. Sent after OK, BEGIN and the first
  /// message could reach systemd (252) in one read, and it left the message unread in its buffer
  /// until more bytes came: the first call hung (seen in the systemd VM, 1 connection in ~10).
  private func authenticate() throws(LiftoffError) {
    try send([0] + Array((Self.authLine(uid: getuid()) + "BEGIN\r\n").utf8))
    let line = try readAuthLine()
    guard line.hasPrefix("OK ") else {
      throw .init(.permissionDenied, "d-bus \(address): authentication refused: \(line)")
    }
  }

  private func readAuthLine() throws(LiftoffError) -> String {
    while true {
      if let nl = buffer.firstIndex(of: 0x0A) {
        let line = buffer[..<nl]
        buffer.removeFirst(nl + 1)
        return String(decoding: line, as: UTF8.self).trimmingSuffix("\r")
      }
      guard buffer.count < 4096 else { throw .init(.internal, "d-bus \(address): authentication line too long") }
      try fill(deadline: Clock.monotonic() + 30)
    }
  }

  private func send(_ bytes: [UInt8]) throws(LiftoffError) {
    var sent = 0
    while sent < bytes.count {
      let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      if n < 0 {
        if errno == EINTR { continue }
        throw .init(.unavailable, "d-bus \(address)", cause: SystemCallError("send", errno: errno))
      }
      sent += n
    }
  }

  /// Reads what is there (waits up to `deadline`, monotonic seconds).
  private func fill(deadline: Double) throws(LiftoffError) {
    while true {
      let left = deadline - Clock.monotonic()
      guard left > 0 else { throw .init(.deadlineExceeded, "d-bus \(address): no answer in time") }
      var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      let r = poll(&p, 1, Int32(min(left * 1000 + 1, 600_000)))
      if r < 0 && errno == EINTR { continue }
      if r == 0 { continue }
      var chunk = [UInt8](repeating: 0, count: 16384)
      let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n < 0 {
        if errno == EINTR || errno == EAGAIN { continue }
        throw .init(.unavailable, "d-bus \(address)", cause: SystemCallError("recv", errno: errno))
      }
      guard n > 0 else { throw .init(.unavailable, "d-bus \(address): the other end closed the connection") }
      buffer += chunk[..<n]
      return
    }
  }

  /// The next message from the socket.
  private func receive(deadline: Double) throws(LiftoffError) -> DBusMessage {
    while true {
      if let length = try DBusMessage.length(of: buffer[...]), buffer.count >= length {
        let m = try DBusMessage.decode(buffer[..<length])
        buffer.removeFirst(length)
        return m
      }
      try fill(deadline: deadline)
    }
  }

  /// Sends a method call; returns its serial.
  @discardableResult
  public func send(path: String, interface: String, member: String, destination: String?, _ body: [DBusValue] = [])
    throws(LiftoffError) -> UInt32
  {
    let serial = nextSerial
    nextSerial &+= 1
    if nextSerial == 0 { nextSerial = 1 }
    let m = DBusMessage.call(
      serial: serial, destination: viaBus ? destination : nil, path: path, interface: interface, member: member, body)
    try send(m.encoded())
    return serial
  }

  /// Calls a method and waits for its reply; an ERROR reply throws, naming the method and the error.
  public func call(
    path: String, interface: String, member: String, destination: String?, _ body: [DBusValue] = [],
    timeoutSeconds: Double = 30
  ) throws(LiftoffError) -> DBusMessage {
    let serial = try send(path: path, interface: interface, member: member, destination: destination, body)
    let deadline = Clock.monotonic() + timeoutSeconds
    while true {
      let m = try receive(deadline: deadline)
      guard m.replySerial == serial, m.kind == .methodReturn || m.kind == .error else {
        if m.kind == .signal { pending.append(m) }
        continue
      }
      if m.kind == .error { throw DBusError(message: m).liftoffError(calling: "\(interface).\(member)") }
      return m
    }
  }

  /// Waits for a signal `matching` (those already read first); signals that do not match are dropped.
  public func waitForSignal(deadline: Double, matching: (DBusMessage) -> Bool) throws(LiftoffError) -> DBusMessage {
    if let i = pending.firstIndex(where: matching) { return pending.remove(at: i) }
    pending.removeAll()
    while true {
      let m = try receive(deadline: deadline)
      if m.kind == .signal, matching(m) { return m }
    }
  }
}

/// An ERROR reply: its name (`org.freedesktop.DBus.Error.InvalidArgs`) and message.
public struct DBusError: Sendable, Equatable {
  public var name: String
  public var message: String

  public init(name: String, message: String) {
    self.name = name
    self.message = message
  }

  init(message m: DBusMessage) {
    name = m.errorName ?? "unknown error"
    message = m.body.first?.string ?? ""
  }

  /// As a LiftoffError: the gRPC-style code the error name maps to, with name and message.
  public func liftoffError(calling what: String) -> LiftoffError {
    let code: LiftoffError.Code
    switch name {
    case "org.freedesktop.DBus.Error.InvalidArgs": code = .invalidArgument
    case "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.DBus.Error.UnknownObject": code = .notFound
    case "org.freedesktop.systemd1.UnitExists": code = .alreadyExists
    case "org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.AuthFailed": code = .permissionDenied
    default: code = .failedPrecondition
    }
    return LiftoffError(code, "\(what): \(name): \(message)")
  }
}

extension String {
  fileprivate func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
