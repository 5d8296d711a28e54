// Qualified CDI device names, `VENDOR/CLASS=NAME` (Container Device Interface SPEC.md, "Fully-qualified
// device name"): vendor and class start with a letter, end with a letter or digit and hold letters,
// digits, `_`, `-` and `.` between; the name starts and ends with a letter or digit and may also hold `:`.
// A name from a CRI request is untrusted input: it is checked here before it is looked up.

public struct CDIName: Sendable, Hashable, CustomStringConvertible {
  public let vendor: String
  public let `class`: String
  public let name: String

  public var kind: String { "\(vendor)/\(`class`)" }
  public var description: String { "\(vendor)/\(`class`)=\(name)" }

  public init(vendor: String, class c: String, name: String) {
    self.vendor = vendor
    self.class = c
    self.name = name
  }

  /// Parses and validates `VENDOR/CLASS=NAME`; the error says what is wrong with which part.
  public init(parsing s: String) throws(CDIError) {
    guard let eq = s.firstIndex(of: "="), let slash = s[..<eq].firstIndex(of: "/") else {
      throw CDIError("\"\(s)\" is not a qualified CDI device name (VENDOR/CLASS=NAME)")
    }
    let vendor = String(s[..<slash]), c = String(s[s.index(after: slash)..<eq]), name = String(s[s.index(after: eq)...])
    if let problem = Self.kindPartProblem(vendor) { throw CDIError("invalid CDI device name \"\(s)\": vendor \(problem)") }
    if let problem = Self.kindPartProblem(c) { throw CDIError("invalid CDI device name \"\(s)\": class \(problem)") }
    if let problem = Self.deviceNameProblem(name) { throw CDIError("invalid CDI device name \"\(s)\": name \(problem)") }
    self.init(vendor: vendor, class: c, name: name)
  }

  static func isLetter(_ c: Character) -> Bool { c.isASCII && c.isLetter }
  static func isAlphanumeric(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }

  /// Why a vendor or class is not valid, nil when it is.
  public static func kindPartProblem(_ s: String) -> String? {
    guard let first = s.first, let last = s.last else { return "is empty" }
    guard isLetter(first) else { return "\"\(s)\" does not start with a letter" }
    guard isAlphanumeric(last) else { return "\"\(s)\" does not end with a letter or digit" }
    if let bad = s.first(where: { !isAlphanumeric($0) && $0 != "_" && $0 != "-" && $0 != "." }) {
      return "\"\(s)\" holds the character '\(bad)'"
    }
    return nil
  }

  /// Why a device name (the part after `=`) is not valid, nil when it is.
  public static func deviceNameProblem(_ s: String) -> String? {
    guard let first = s.first, let last = s.last else { return "is empty" }
    guard isAlphanumeric(first), isAlphanumeric(last) else { return "\"\(s)\" does not start and end with a letter or digit" }
    if let bad = s.first(where: { !isAlphanumeric($0) && $0 != "_" && $0 != "-" && $0 != "." && $0 != ":" }) {
      return "\"\(s)\" holds the character '\(bad)'"
    }
    return nil
  }

  /// The annotation form kubelet's device plugins use (as `cdi.ParseAnnotations`): every annotation
  /// whose key starts with `cdi.k8s.io/` holds a comma-separated list of qualified names.
  public static let annotationPrefix = "cdi.k8s.io/"

  public static func fromAnnotations(_ annotations: [String: String]) throws(CDIError) -> [CDIName] {
    var out: [CDIName] = []
    for (key, value) in annotations.sorted(by: { $0.key < $1.key }) where key.hasPrefix(annotationPrefix) {
      for d in value.split(separator: ",", omittingEmptySubsequences: false) {
        do { out.append(try CDIName(parsing: String(d))) } catch {
          throw CDIError("annotation \(key): \(error.message)")
        }
      }
    }
    return out
  }
}

/// A CDI problem: a spec that cannot be used, a device name that is not valid or does not resolve.
public struct CDIError: Error, Sendable, CustomStringConvertible {
  public let message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}
