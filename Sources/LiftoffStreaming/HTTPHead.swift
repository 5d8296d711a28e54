// The HTTP/1.1 request head a streaming client sends before it upgrades the connection, and the
// responses the server writes (101 Switching Protocols or a short error). The server speaks no more
// HTTP than that: every request is an upgrade to SPDY/3.1 or WebSocket, or gets an error.
import Foundation

struct HTTPRequestHead: Sendable {
  var method: String
  var target: String
  var headers: [(name: String, value: String)]

  /// The path without the query.
  var path: String { String(target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]) }

  /// The first value of a header (case-insensitive name).
  func header(_ name: String) -> String? {
    headers.first { $0.name.lowercased() == name.lowercased() }?.value
  }

  /// Every value of a header, from repeated lines and comma-separated lists, trimmed.
  func headerValues(_ name: String) -> [String] {
    headers.filter { $0.name.lowercased() == name.lowercased() }
      .flatMap { $0.value.split(separator: ",") }
      .map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { !$0.isEmpty }
  }

  /// Whether a comma-separated header (Connection) contains `token`, case-insensitively.
  func headerContainsToken(_ name: String, _ token: String) -> Bool {
    headerValues(name).contains { $0.lowercased() == token.lowercased() }
  }

  static func parse(_ bytes: [UInt8]) throws -> HTTPRequestHead {
    let text = String(decoding: bytes, as: UTF8.self)
    var lines = text.components(separatedBy: "\r\n")
    while lines.last == "" { lines.removeLast() }
    guard let requestLine = lines.first else { throw HTTPHeadError.truncated }
    let parts = requestLine.split(separator: " ", omittingEmptySubsequences: true)
    guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { throw HTTPHeadError.badRequestLine(requestLine) }
    var headers: [(name: String, value: String)] = []
    for line in lines.dropFirst() {
      guard let colon = line.firstIndex(of: ":") else { throw HTTPHeadError.badHeader(line) }
      let name = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
      guard !name.isEmpty else { throw HTTPHeadError.badHeader(line) }
      headers.append((name: name, value: String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
    }
    return HTTPRequestHead(method: String(parts[0]), target: String(parts[1]), headers: headers)
  }
}

enum HTTPResponse {
  /// A complete response with a text body; the connection closes after it.
  static func error(_ status: Int, _ reason: String, body: String, extraHeaders: [(String, String)] = []) -> [UInt8] {
    var head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/plain; charset=utf-8\r\n"
    head += "Content-Length: \(body.utf8.count + 1)\r\nConnection: close\r\n"
    for (n, v) in extraHeaders { head += "\(n): \(v)\r\n" }
    return Array((head + "\r\n" + body + "\n").utf8)
  }

  static func switchingProtocols(_ headers: [(String, String)]) -> [UInt8] {
    var head = "HTTP/1.1 101 Switching Protocols\r\n"
    for (n, v) in headers { head += "\(n): \(v)\r\n" }
    return Array((head + "\r\n").utf8)
  }
}

extension HTTPHeadError {
  static func badRequestLine(_ line: String) -> HTTPHeadError { .malformed("bad request line \"\(line.prefix(200))\"") }
  static func badHeader(_ line: String) -> HTTPHeadError { .malformed("bad header line \"\(line.prefix(200))\"") }
}

