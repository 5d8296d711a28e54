// How long each CNI plugin invocation took, reported by the process that ran it. The plugins run inside
// the `liftoff` processes liftoff-cri starts (`app sandbox`: ADD; `stop`, `rm`, `gc`: DEL, GC), so
// liftoff-cri cannot time them itself; with LIFTOFF_CNI_REPORT=stderr in its environment `liftoff`
// writes one line per invocation to its standard error, which liftoff-cri reads anyway (Stage0.swift),
// takes these lines out of, and turns into its Prometheus histogram:
//
//   liftoff-cni-plugin-run plugin=bridge command=ADD seconds=0.012345 ok=true
//
// One write(2) of less than PIPE_BUF bytes per line, so lines never interleave. Without the variable
// (a person running `liftoff`) nothing is written.
import Foundation
import LiftoffCore

public struct CNIPluginRun: Sendable, Equatable {
  public var plugin: String
  public var command: String
  public var seconds: Double
  public var success: Bool

  public init(plugin: String, command: String, seconds: Double, success: Bool) {
    self.plugin = plugin
    self.command = command
    self.seconds = seconds
    self.success = success
  }

  public static let environmentVariable = "LIFTOFF_CNI_REPORT"
  static let prefix = "liftoff-cni-plugin-run "

  /// A label value without spaces or `=` (plugin types are binary names; anything else is replaced).
  static func token(_ s: String) -> String {
    let t = String(s.map { $0.isWhitespace || $0 == "=" ? "_" : $0 }.prefix(64))
    return t.isEmpty ? "_" : t
  }

  public var line: String {
    "\(Self.prefix)plugin=\(Self.token(plugin)) command=\(Self.token(command)) seconds=\(String(format: "%.6f", seconds)) ok=\(success)"
  }

  /// A report line, or nil for any other line.
  public static func parse<S: StringProtocol>(_ line: S) -> CNIPluginRun? {
    guard line.hasPrefix(prefix) else { return nil }
    var fields: [String: String] = [:]
    for part in String(line.dropFirst(prefix.count)).split(separator: " ") {
      guard let eq = part.firstIndex(of: "=") else { return nil }
      fields[String(part[..<eq])] = String(part[part.index(after: eq)...])
    }
    guard let plugin = fields["plugin"], let command = fields["command"], let s = fields["seconds"].flatMap({ Double($0) }),
      let ok = fields["ok"], ok == "true" || ok == "false"
    else { return nil }
    return CNIPluginRun(plugin: plugin, command: command, seconds: s, success: ok == "true")
  }

  /// Splits `stderr` into the report lines and the rest (the command's own messages).
  public static func split(_ stderr: String) -> (runs: [CNIPluginRun], rest: String) {
    var runs: [CNIPluginRun] = []
    var rest: [Substring] = []
    for line in stderr.split(separator: "\n", omittingEmptySubsequences: false) {
      if let run = parse(line) { runs.append(run) } else { rest.append(line) }
    }
    return (runs, rest.joined(separator: "\n"))
  }

  /// The reporter this process should use: stderr lines when LIFTOFF_CNI_REPORT=stderr, else none.
  public static func environmentReporter() -> (@Sendable (CNIPluginRun) -> Void)? {
    guard let value = getenv(environmentVariable), String(cString: value) == "stderr" else { return nil }
    return { run in
      let bytes = Array((run.line + "\n").utf8)
      _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
  }
}
