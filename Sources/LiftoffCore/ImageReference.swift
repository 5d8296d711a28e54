// Image references as Docker's distribution/reference grammar defines them
// (github.com/distribution/reference, reference.go), with Docker's normalisation:
// a name without a registry means `docker.io`, a one-component Docker Hub name means `library/NAME`,
// and a reference with neither tag nor digest means `:latest`.

/// A normalised image reference: `registry/repository[:tag][@digest]`.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
  /// Registry host with optional port, e.g. `docker.io`, `127.0.0.1:5000`.
  public var registry: String
  /// Repository path, e.g. `library/busybox`.
  public var repository: String
  public var tag: String?
  public var digest: Digest?

  public static let defaultRegistry = "docker.io"
  public static let defaultTag = "latest"

  public init(registry: String, repository: String, tag: String?, digest: Digest?) {
    self.registry = registry
    self.repository = repository
    self.tag = tag
    self.digest = digest
  }

  /// Parses and normalises `s` (an optional `docker://` prefix is accepted).
  public init(parsing input: String) throws {
    var s = Substring(input)
    if s.hasPrefix("docker://") { s = s.dropFirst("docker://".count) }
    func bad(_ why: String) -> LiftoffError {
      .invalidArgument("invalid image reference \"\(input)\": \(why)")
    }
    guard !s.isEmpty else { throw bad("empty") }
    guard s.utf8.count <= 4096 else { throw bad("too long") }
    var digest: Digest?
    if let at = s.firstIndex(of: "@") {
      do { digest = try Digest(String(s[s.index(after: at)...])) } catch let e as LiftoffError {
        throw bad(e.message)
      }
      s = s[..<at]
    }
    var tag: String?
    // A tag is after the last ':' that follows the last '/'.
    let lastSlash = s.lastIndex(of: "/")
    if let colon = s.lastIndex(of: ":"), lastSlash == nil || colon > lastSlash! {
      let t = String(s[s.index(after: colon)...])
      guard ImageReference.isValidTag(t) else { throw bad("invalid tag \"\(t)\"") }
      tag = t
      s = s[..<colon]
    }
    var components = s.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    var registry = ImageReference.defaultRegistry
    if components.count > 1,
      let first = components.first,
      first.contains(".") || first.contains(":") || first == "localhost" || first.contains(where: { $0.isUppercase })
    {
      registry = first
      components.removeFirst()
      guard ImageReference.isValidHost(registry) else { throw bad("invalid registry host \"\(registry)\"") }
    }
    if registry == "index.docker.io" || registry == "registry-1.docker.io" { registry = "docker.io" }
    if registry == ImageReference.defaultRegistry && components.count == 1 {
      components.insert("library", at: 0)
    }
    for c in components {
      guard ImageReference.isValidPathComponent(c) else {
        throw bad(c.isEmpty ? "empty path component" : "invalid path component \"\(c)\" (lowercase letters, digits and separators only)")
      }
    }
    if tag == nil && digest == nil { tag = ImageReference.defaultTag }
    self.init(registry: registry, repository: components.joined(separator: "/"), tag: tag, digest: digest)
  }

  /// `registry/repository`.
  public var name: String { "\(registry)/\(repository)" }

  /// `registry/repository:tag` (nil for a digest-only reference).
  public var taggedName: String? { tag.map { "\(name):\($0)" } }

  /// `registry/repository@digest` for a given manifest digest.
  public func canonicalName(_ d: Digest) -> String { "\(name)@\(d)" }

  public var description: String {
    var s = name
    if let tag { s += ":" + tag }
    if let digest { s += "@" + digest.description }
    return s
  }

  /// What to ask the registry for: the digest when pinned, else the tag.
  public var manifestReference: String { digest?.description ?? tag ?? ImageReference.defaultTag }

  static func isValidTag(_ t: String) -> Bool {
    let u = Array(t.utf8)
    guard !u.isEmpty, u.count <= 128 else { return false }
    func word(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 }
    guard word(u[0]) else { return false }
    return u.dropFirst().allSatisfy { word($0) || $0 == 46 || $0 == 45 }
  }

  static func isValidPathComponent(_ c: String) -> Bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
    let u = Array(c.utf8)
    guard !u.isEmpty else { return false }
    func alnum(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 97 && b <= 122) }
    guard alnum(u.first!), alnum(u.last!) else { return false }
    var i = 0
    while i < u.count {
      if alnum(u[i]) { i += 1; continue }
      // a separator run
      var j = i
      while j < u.count && !alnum(u[j]) { j += 1 }
      let sep = u[i..<j]
      let ok = sep.elementsEqual([46]) || sep.elementsEqual([95]) || sep.elementsEqual([95, 95]) || sep.allSatisfy { $0 == 45 }
      if !ok { return false }
      i = j
    }
    return true
  }

  static func isValidHost(_ h: String) -> Bool {
    guard !h.isEmpty, h.utf8.count <= 255 else { return false }
    return h.utf8.allSatisfy { b in
      (b >= 48 && b <= 58) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 46 || b == 91 || b == 93
    }
  }
}
