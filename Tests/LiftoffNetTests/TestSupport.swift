// Helpers for LiftoffNet tests: unique names, temp dirs, shell commands, script plugins.
import Foundation
import Glibc
import Testing

@testable import LiftoffNet

enum TestSupport {
  /// A short random hex suffix for names that must not collide with parallel runs.
  static func suffix(_ n: Int = 6) -> String {
    String((0..<n).map { _ in "0123456789abcdef".randomElement()! })
  }

  /// A fresh temporary directory; removed by `cleanup`.
  static func tempDir(_ tag: String) throws -> String {
    let p = NSTemporaryDirectory() + "liftoff-net-\(tag)-\(suffix(8))"
    try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
  }

  static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

  struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  /// Runs a command to completion (Foundation Process, i.e. posix_spawn).
  @discardableResult
  static func run(_ argv: [String], check: Bool = false) throws -> Run {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0])
    p.arguments = Array(argv.dropFirst())
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let r = Run(
      status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    if check && r.status != 0 {
      throw TestFailure("\(argv.joined(separator: " ")) exited \(r.status): \(r.stderr)\(r.stdout)")
    }
    return r
  }

  static func sh(_ script: String, check: Bool = false) throws -> Run {
    try run(["/bin/sh", "-c", script], check: check)
  }

  /// Writes an executable script plugin named `name` into `dir`.
  static func writePlugin(_ dir: String, _ name: String, _ body: String) throws {
    let p = dir + "/" + name
    try ("#!/bin/sh\n" + body).write(toFile: p, atomically: true, encoding: .utf8)
    chmod(p, 0o755)
  }

  static func write(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
  }

  /// A plain HTTP/1.0 GET to 127.0.0.1:port; the whole answer (status line, headers, body), or nil
  /// when the connection fails. Waits at most about two seconds.
  static func httpGet(port: Int, path: String) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var tv = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let ok = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard ok == 0 else { return nil }
    let request = "GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    guard send(fd, request, request.utf8.count, 0) == request.utf8.count else { return nil }
    var answer = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = recv(fd, &buf, buf.count, 0)
      if n <= 0 { break }
      answer += buf[0..<n]
    }
    return answer.isEmpty ? nil : String(decoding: answer, as: UTF8.self)
  }

  static func read(_ path: String) -> String {
    (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
  }
}

struct TestFailure: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}
