// Runtime handlers (a RuntimeClass's `handler`): the built-in `""`, `default` and `fly`, and the node
// operator's own from `[runtime-handlers.NAME]` tables in cri.toml, each a stage1 flavor with a few
// options that give the name a meaning (a small set chosen from CRI-O's `[crio.runtime.runtimes.NAME]`
// and containerd's `runtimes.NAME`):
//
//   [runtime-handlers.confined]
//   flavor = "default"             "default" or "fly" (stage1's flavor: DESIGN.md)
//   seccomp = "runtime/default"    forced on containers that ask for none or Unconfined: "runtime/default"
//                                  or the absolute path of an OCI seccomp profile (CRI-O's seccomp_profile
//                                  gives the handler's RuntimeDefault; this one closes the unconfined gap)
//   user-namespace = "required"    "optional" (the default) or "required": a sandbox must ask for a POD
//                                  user namespace (hostUsers: false) or RunPodSandbox refuses it
//
// A table named like a built-in replaces it. What a sandbox's handler gave it (flavor, forced seccomp)
// is recorded in its pod manifest at RunPodSandbox, so a later change of cri.toml does not change a
// running pod's containers.
import Foundation
import LiftoffCore
import TOMLKit

public struct RuntimeHandlerConfig: Sendable, Equatable, Codable {
  public enum Flavor: String, Sendable, Codable, CaseIterable { case `default`, fly }
  public enum UserNamespace: String, Sendable, Codable, CaseIterable { case optional, required }

  public var flavor: Flavor = .default
  /// The seccomp profile of a container that asks for none or Unconfined: `runtime/default` or an
  /// absolute path; nil: such a container is unconfined, as in containerd and CRI-O.
  public var seccomp: String?
  public var userNamespace: UserNamespace = .optional

  public init(flavor: Flavor = .default, seccomp: String? = nil, userNamespace: UserNamespace = .optional) {
    self.flavor = flavor
    self.seccomp = seccomp
    self.userNamespace = userNamespace
  }

  enum CodingKeys: String, CodingKey, CaseIterable {
    case flavor
    case seccomp
    case userNamespace = "user-namespace"
  }

  /// The handlers every node has unless cri.toml redefines them.
  public static let builtIn: [String: RuntimeHandlerConfig] = ["": .init(), "default": .init(), "fly": .init(flavor: .fly)]

  /// The `--seccomp` value `liftoff app add` takes for the forced profile.
  var seccompArgument: String? {
    guard let seccomp else { return nil }
    return seccomp == "runtime/default" ? seccomp : "localhost=" + seccomp
  }

  /// Reads one `[runtime-handlers.NAME]` table; errors name the table and the key.
  static func parse(_ table: TOMLTable, name: String, file: String) throws -> RuntimeHandlerConfig {
    let place = "config file \(file): [runtime-handlers.\(TOMLText.quoteKeyIfNeeded(name))]"
    let known = CodingKeys.allCases.map(\.rawValue)
    for key in table.keys.sorted() where !known.contains(key) {
      throw LiftoffError.invalidArgument("\(place): unknown key \"\(key)\" (known: \(known.joined(separator: ", ")))")
    }
    func string(_ key: CodingKeys) throws -> String? {
      guard let value = table[key.rawValue] else { return nil }
      guard let s = value.string else { throw LiftoffError.invalidArgument("\(place): \"\(key.rawValue)\" must be a string") }
      return s
    }
    var handler = RuntimeHandlerConfig()
    if let v = try string(.flavor) {
      guard let flavor = Flavor(rawValue: v) else {
        throw LiftoffError.invalidArgument(
          "\(place): flavor \"\(v)\" is not one of \(Flavor.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
      }
      handler.flavor = flavor
    }
    if let v = try string(.seccomp) { handler.seccomp = v }
    if let v = try string(.userNamespace) {
      guard let mode = UserNamespace(rawValue: v) else {
        throw LiftoffError.invalidArgument("\(place): user-namespace \"\(v)\" is not \"optional\" or \"required\"")
      }
      handler.userNamespace = mode
    }
    return handler
  }

  /// Checks the combination; errors name the handler.
  func validate(name: String) throws {
    let table = "runtime-handlers.\(TOMLText.quoteKeyIfNeeded(name))"
    // kubelet's RuntimeClass handler is a DNS label; "" is the default handler.
    let isLabel = name.count <= 63 && name.first.map { $0.isASCII && ($0.isLowercase || $0.isNumber) } == true
      && name.last.map { $0.isASCII && ($0.isLowercase || $0.isNumber) } == true
      && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
    guard name.isEmpty || isLabel else {
      throw LiftoffError.invalidArgument("\(table): \"\(name)\" is not a RuntimeClass handler name (a DNS label: a-z, 0-9, '-', at most 63)")
    }
    if let seccomp {
      guard seccomp == "runtime/default" || seccomp.hasPrefix("/") else {
        throw LiftoffError.invalidArgument("\(table): seccomp \"\(seccomp)\" is not runtime/default or an absolute path to a profile")
      }
      if seccomp.hasPrefix("/") && !FileManager.default.isReadableFile(atPath: seccomp) {
        throw LiftoffError.invalidArgument("\(table): seccomp profile \(seccomp) is missing or unreadable")
      }
      if flavor == .fly {
        throw LiftoffError.invalidArgument("\(table): seccomp cannot be forced with flavor fly (it runs containers privileged, without seccomp)")
      }
    }
    if userNamespace == .required && flavor == .fly {
      throw LiftoffError.invalidArgument("\(table): user-namespace \"required\" cannot go with flavor fly (host namespaces, no user namespace)")
    }
  }

  /// The table as `liftoff-cri config` prints it.
  func tomlLines(name: String) -> [String] {
    var lines = ["[runtime-handlers.\(TOMLText.quoteKeyIfNeeded(name))]", "flavor = \(TOMLText.quote(flavor.rawValue))"]
    lines.append(seccomp.map { "seccomp = \(TOMLText.quote($0))" } ?? "# seccomp = \"runtime/default\"  (not set: containers that ask for none are unconfined)")
    lines.append("user-namespace = \(TOMLText.quote(userNamespace.rawValue))")
    return lines
  }

  /// What the handler gives a pod, for Status's verbose info.
  var summary: String {
    var s = flavor == .fly
      ? "fly: chroot only, host namespaces, every capability, no seccomp; privileged sandboxes and containers only"
      : "default: namespaces, cgroups, capabilities, seccomp, masked paths"
    if let seccomp { s += "; seccomp \(seccomp) for containers that ask for none or Unconfined" }
    if userNamespace == .required { s += "; a POD user namespace required" }
    return s
  }
}

extension CRIConfig {
  /// The handler `name` selects (`field` names it in the request); INVALID_ARGUMENT naming it and the
  /// known ones otherwise.
  func runtimeHandler(_ name: String, field: String) throws -> RuntimeHandlerConfig {
    let handlers = effectiveRuntimeHandlers
    guard let handler = handlers[name] else {
      throw LiftoffError.invalidArgument(
        "\(field) \"\(name)\" is not one of \(handlers.keys.sorted().map { "\"\($0)\"" }.joined(separator: ", "))")
    }
    return handler
  }
}
