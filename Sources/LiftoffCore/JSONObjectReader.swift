// Strict reading of a JSON object for requests (Stage0Request): each field read by its type, an error
// naming the field's key path (`app.mounts[2].readOnly: expected a boolean`) on a wrong type, and
// `finish()` refusing a key nobody read (`app.mountz: unknown key`). A null field counts as absent.
public struct JSONObjectReader {
  public let path: String
  let members: [(String, JSON)]
  /// Which members were read, by index (not a Set of keys: a process's first Set<String> costs a
  /// scan of every conformance record, and this runs on every `liftoff --spec-file`).
  var read: [Bool]

  public init(_ j: JSON, path: String) throws(LiftoffError) {
    guard case .object(let m) = j else { throw .invalidArgument("\(path.isEmpty ? "request" : path): expected an object") }
    members = m
    read = Array(repeating: false, count: m.count)
    self.path = path
  }

  /// The key path of `key` (and of an element of it with `index`).
  public func at(_ key: String, _ index: Int? = nil) -> String {
    (path.isEmpty ? key : "\(path).\(key)") + (index.map { "[\($0)]" } ?? "")
  }

  public mutating func value(_ key: String) -> JSON? {
    var i = 0
    while i < members.count && members[i].0 != key { i += 1 }
    guard i < members.count else { return nil }
    read[i] = true
    let v = members[i].1
    return v.isNull ? nil : v
  }

  func wrong(_ key: String, _ expected: String) -> LiftoffError { .invalidArgument("\(at(key)): expected \(expected)") }

  public mutating func optString(_ key: String) throws(LiftoffError) -> String? {
    guard let v = value(key) else { return nil }
    guard let s = v.stringValue else { throw wrong(key, "a string") }
    return s
  }
  public mutating func string(_ key: String) throws(LiftoffError) -> String {
    guard let s = try optString(key) else { throw .invalidArgument("\(at(key)): missing") }
    return s
  }
  public mutating func string(_ key: String, default d: String) throws(LiftoffError) -> String { try optString(key) ?? d }
  public mutating func bool(_ key: String, default d: Bool) throws(LiftoffError) -> Bool {
    guard let v = value(key) else { return d }
    guard let b = v.boolValue else { throw wrong(key, "a boolean") }
    return b
  }
  public mutating func optInt64(_ key: String) throws(LiftoffError) -> Int64? {
    guard let v = value(key) else { return nil }
    guard let i = v.int64Value else { throw wrong(key, "an integer") }
    return i
  }
  public mutating func optInt(_ key: String) throws(LiftoffError) -> Int? {
    guard let i = try optInt64(key) else { return nil }
    guard let n = Int(exactly: i) else { throw wrong(key, "an integer") }
    return n
  }
  public mutating func int(_ key: String, default d: Int) throws(LiftoffError) -> Int { try optInt(key) ?? d }
  public mutating func optUInt64(_ key: String) throws(LiftoffError) -> UInt64? {
    guard let v = value(key) else { return nil }
    guard let u = v.uint64Value else { throw wrong(key, "an unsigned integer") }
    return u
  }
  public mutating func uint32(_ key: String, default d: UInt32? = nil) throws(LiftoffError) -> UInt32 {
    guard let v = value(key) else {
      guard let d else { throw .invalidArgument("\(at(key)): missing") }
      return d
    }
    guard let u = v.uint64Value, let n = UInt32(exactly: u) else { throw wrong(key, "an integer in 0…\(UInt32.max)") }
    return n
  }
  public mutating func optArray(_ key: String) throws(LiftoffError) -> [JSON]? {
    guard let v = value(key) else { return nil }
    guard let a = v.arrayValue else { throw wrong(key, "an array") }
    return a
  }
  public mutating func optStrings(_ key: String) throws(LiftoffError) -> [String]? {
    guard let a = try optArray(key) else { return nil }
    var out: [String] = []
    for (i, item) in a.enumerated() {
      guard let s = item.stringValue else { throw .invalidArgument("\(at(key, i)): expected a string") }
      out.append(s)
    }
    return out
  }
  public mutating func strings(_ key: String) throws(LiftoffError) -> [String] { try optStrings(key) ?? [] }
  public mutating func uint32s(_ key: String) throws(LiftoffError) -> [UInt32] {
    var out: [UInt32] = []
    for (i, item) in (try optArray(key) ?? []).enumerated() {
      guard let u = item.uint64Value, let n = UInt32(exactly: u) else { throw .invalidArgument("\(at(key, i)): expected an integer in 0…\(UInt32.max)") }
      out.append(n)
    }
    return out
  }
  public mutating func stringMap(_ key: String) throws(LiftoffError) -> [String: String] {
    guard let v = value(key) else { return [:] }
    guard let o = v.objectValue else { throw wrong(key, "an object") }
    var out: [String: String] = [:]
    for (k, item) in o {
      guard let s = item.stringValue else { throw .invalidArgument("\(at(key)).\(k): expected a string") }
      out[k] = s
    }
    return out
  }
  /// An object field, read strictly (its reader's `finish` is the caller's).
  public mutating func optObject(_ key: String) throws(LiftoffError) -> JSONObjectReader? {
    guard let v = value(key) else { return nil }
    return try JSONObjectReader(v, path: at(key))
  }
  /// An array of objects, each read by `body` and finished.
  public mutating func objects<T>(_ key: String, _ body: (inout JSONObjectReader) throws(LiftoffError) -> T) throws(LiftoffError) -> [T] {
    var out: [T] = []
    for (i, item) in (try optArray(key) ?? []).enumerated() {
      var r = try JSONObjectReader(item, path: at(key, i))
      out.append(try body(&r))
      try r.finish()
    }
    return out
  }

  /// Refuses a key no one read.
  public func finish() throws(LiftoffError) {
    var i = 0
    while i < members.count {
      if !read[i] { throw .invalidArgument("\(at(members[i].0)): unknown key") }
      i += 1
    }
  }

  /// Refuses a key of `j` (an object read by a lenient reader, like AppResources(json:)) not in `known`.
  public static func checkKeys(_ j: JSON, _ known: Set<String>, path: String) throws(LiftoffError) {
    guard let members = j.objectValue else { throw .invalidArgument("\(path): expected an object") }
    if let unknown = members.first(where: { !known.contains($0.0) }) {
      throw .invalidArgument("\(path).\(unknown.0): unknown key")
    }
  }
}

extension JSON {
  /// `true` when set, absent otherwise (a boolean field that defaults to false).
  public static func flag(_ b: Bool) -> JSON? { b ? .bool(true) : nil }
  /// A list, absent when empty.
  public static func list(_ a: [String]) -> JSON? { a.isEmpty ? nil : .strs(a) }
  /// A map, absent when empty.
  public static func dict(_ m: [String: String]) -> JSON? { m.isEmpty ? nil : .map(m) }
}
