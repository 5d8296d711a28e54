// The result of exec/attach on the error stream, as kubelet writes it (k8s.io/apimachinery
// meta/v1 Status, encoded by Go's encoding/json: fields in declaration order, empty ones omitted,
// `metadata` always present).
//
//   v4/v5:   {"metadata":{},"status":"Success"}
//            {"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: …",
//             "reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}
//            {"metadata":{},"status":"Failure","message":"Internal error occurred: …","reason":"InternalError",
//             "details":{"causes":[{"message":"…"}]},"code":500}
//   v1–v3:   nothing on success, else the message as plain text.
import Foundation

struct KubeStatus: Sendable, Equatable {
  var success: Bool
  var message: String = ""
  var reason: String = ""
  var causes: [(reason: String, message: String)] = []
  var code: Int = 0

  static func == (a: KubeStatus, b: KubeStatus) -> Bool { a.json() == b.json() }

  static let successStatus = KubeStatus(success: true)

  static func exitCode(_ code: Int32, command: [String]) -> KubeStatus {
    KubeStatus(
      success: false,
      message: "command terminated with non-zero exit code: error executing command \(goList(command)), exit code \(code)",
      reason: "NonZeroExitCode", causes: [(reason: "ExitCode", message: "\(code)")])
  }

  static func internalError(_ message: String) -> KubeStatus {
    KubeStatus(
      success: false, message: "Internal error occurred: \(message)", reason: "InternalError",
      causes: [(reason: "", message: message)], code: 500)
  }

  /// Go's %v of a []string: [a b c].
  static func goList(_ items: [String]) -> String { "[" + items.joined(separator: " ") + "]" }

  /// The v4 error-stream body.
  func json() -> [UInt8] {
    var s = "{\"metadata\":{},\"status\":\"\(success ? "Success" : "Failure")\""
    if !message.isEmpty { s += ",\"message\":\(Self.quote(message))" }
    if !reason.isEmpty { s += ",\"reason\":\(Self.quote(reason))" }
    if !causes.isEmpty {
      let items = causes.map { c -> String in
        var parts: [String] = []
        if !c.reason.isEmpty { parts.append("\"reason\":\(Self.quote(c.reason))") }
        if !c.message.isEmpty { parts.append("\"message\":\(Self.quote(c.message))") }
        return "{" + parts.joined(separator: ",") + "}"
      }
      s += ",\"details\":{\"causes\":[\(items.joined(separator: ","))]}"
    }
    if code != 0 { s += ",\"code\":\(code)" }
    return Array((s + "}").utf8)
  }

  /// The v1–v3 error-stream body: nothing on success, the message otherwise.
  func text() -> [UInt8] { success ? [] : Array(message.utf8) }

  /// A JSON string literal as Go's encoding/json writes it (<, >, & escaped too).
  static func quote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case "<": out += "\\u003c"
      case ">": out += "\\u003e"
      case "&": out += "\\u0026"
      case "\u{2028}": out += "\\u2028"
      case "\u{2029}": out += "\\u2029"
      default:
        if u.value < 0x20 {
          out += String(format: "\\u%04x", u.value)
        } else {
          out.unicodeScalars.append(u)
        }
      }
    }
    return out + "\""
  }

  /// Parses a v4 Status body (what a client does): the status, and the exit code of a
  /// NonZeroExitCode failure.
  static func parse(_ bytes: [UInt8]) -> (success: Bool, exitCode: Int32?, message: String)? {
    guard let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
      let status = obj["status"] as? String
    else { return nil }
    let message = obj["message"] as? String ?? ""
    if status == "Success" { return (true, 0, message) }
    var exit: Int32?
    if obj["reason"] as? String == "NonZeroExitCode",
      let causes = (obj["details"] as? [String: Any])?["causes"] as? [[String: Any]]
    {
      for c in causes where c["reason"] as? String == "ExitCode" {
        if let m = c["message"] as? String { exit = Int32(m) }
      }
    }
    return (false, exit, message)
  }
}
