// Helpers for LiftoffNet tests: unique names, temp dirs, shell commands, script plugins.
import Foundation
import Glibc
import Testing

@testable import LiftoffNet

enum TestSupport {
  static var isRoot: Bool { getuid() == 0 }

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

  static func read(_ path: String) -> String {
    (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
  }
}

struct TestFailure: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}
