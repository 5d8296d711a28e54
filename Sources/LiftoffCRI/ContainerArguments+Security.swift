// The Linux security context of CreateContainer as the app's settings: user and group, supplemental groups
// (Merge/Strict), read-only rootfs, privileged, capabilities (names with or without `CAP_`, `ALL`),
// no_new_privs, seccomp (RuntimeDefault, Unconfined, Localhost), PID namespace CONTAINER, NODE, POD or
// TARGET (another container of the sandbox); the
// sandbox's sysctls (namespaced ones; `liftoff app add` refuses the others naming them). What the executor does not
// support yet is refused naming the field.
import LiftoffCore
import LiftoffOS
import LiftoffPod

extension ContainerArguments {
  func security(_ sc: Runtime_V1_LinuxContainerSecurityContext, present: Bool, into a: inout AppOptions) throws {
    let field = "config.linux.security_context"
    a.privileged = sc.privileged
    try SecurityModules.refuseProfiles(
      selinux: sc.hasSelinuxOptions ? sc.selinuxOptions : nil, apparmor: sc.hasApparmor ? sc.apparmor : nil,
      apparmorProfile: sc.apparmorProfile, field: field)
    if sc.hasRunAsUser {
      guard sc.runAsUser.value >= 0, sc.runAsUser.value <= Int64(UInt32.max) else {
        throw LiftoffError.invalidArgument("\(field).run_as_user \(sc.runAsUser.value) is out of range")
      }
      a.user = String(sc.runAsUser.value)
    } else if !sc.runAsUsername.isEmpty {
      a.user = sc.runAsUsername
    }
    if sc.hasRunAsGroup {
      guard sc.runAsGroup.value >= 0, sc.runAsGroup.value <= Int64(UInt32.max) else {
        throw LiftoffError.invalidArgument("\(field).run_as_group \(sc.runAsGroup.value) is out of range")
      }
      // As containerd ("user group … is specified without user"): kubelet always sends the user
      // (the pod's, or the image's) with a group; a group alone would silently pair with the image's user.
      guard sc.hasRunAsUser || !sc.runAsUsername.isEmpty else {
        throw LiftoffError.invalidArgument(
          "\(field).run_as_group \(sc.runAsGroup.value) is set without run_as_user or run_as_username")
      }
      a.group = String(sc.runAsGroup.value)
    }
    if !sc.supplementalGroups.isEmpty {
      for g in sc.supplementalGroups where g < 0 || g > Int64(UInt32.max) {
        throw LiftoffError.invalidArgument("\(field).supplemental_groups: \(g) is out of range")
      }
      a.supplementaryGroups += sc.supplementalGroups.map { UInt32($0) }
    }
    switch sc.supplementalGroupsPolicy {
    case .merge: break
    case .strict: a.supplementaryGroupsStrict = true
    case .UNRECOGNIZED(let n): throw LiftoffError.invalidArgument("\(field).supplemental_groups_policy \(n) is unknown")
    }
    a.readOnlyRootfs = sc.readonlyRootfs
    // kubelet sends the lists it wants (the defaults, or none for procMount Unmasked); an empty list
    // from a client that sends none keeps Liftoff's defaults, as in containerd.
    for (list, name) in [(sc.maskedPaths, "masked_paths"), (sc.readonlyPaths, "readonly_paths")] {
      for p in list where !p.hasPrefix("/") {
        throw LiftoffError.invalidArgument("\(field).\(name): \"\(p)\" must be an absolute path")
      }
    }
    if !sc.maskedPaths.isEmpty { a.maskedPaths = sc.maskedPaths }
    if !sc.readonlyPaths.isEmpty { a.readonlyPaths = sc.readonlyPaths }
    a.noNewPrivileges = sc.noNewPrivs
    if sc.hasCapabilities {
      a.capsRetain = try capabilitySet(sc.capabilities)
      // As containerd: ambient capabilities are added to the set and made inheritable and ambient.
      for c in sc.capabilities.addAmbientCapabilities where Capabilities.normalize(c) == nil {
        throw LiftoffError.invalidArgument("\(field).capabilities.add_ambient_capabilities: unknown capability \(c)")
      }
      a.capsAmbient += sc.capabilities.addAmbientCapabilities
    }
    // A runtime handler with a forced profile (RuntimeHandlerConfig.swift) confines a container that
    // asked for none or Unconfined; a privileged container has no seccomp whatever is asked.
    let seccomp = try seccompProfile(sc)
    a.seccomp = seccomp == "unconfined" && !sc.privileged ? sandbox.handlerSeccomp.map(Self.manifestSeccomp) ?? seccomp : seccomp
    let ns = sc.namespaceOptions
    if sc.hasNamespaceOptions {
      switch ns.pid {
      case .container: a.pidNamespace = .container
      case .node: a.pidNamespace = .host
      case .pod:
        guard sandbox.manifest.sharedPID else {
          throw LiftoffError.invalidArgument("\(field).namespace_options.pid POD: sandbox \(sandbox.id) was not created with PID namespace POD")
        }
        a.pidNamespace = .pod
      case .target:
        // Another container of the same sandbox (kubelet's debug containers): its app name is its ID.
        let ids = sandbox.manifest.apps.map(\.name)
        let matches = ns.targetID.isEmpty ? [] : ids.filter { $0.hasPrefix(ns.targetID) }
        guard matches.count == 1, let target = matches.first else {
          throw LiftoffError.invalidArgument(
            "\(field).namespace_options.target_id \"\(ns.targetID)\" is not \(matches.isEmpty ? "a" : "a unique") container of sandbox \(sandbox.id)")
        }
        a.pidNamespace = .target
        a.pidTarget = target
      case .UNRECOGNIZED(let n): throw LiftoffError.invalidArgument("\(field).namespace_options.pid \(n) is unknown")
      }
    }
    // The container is in its pod's user namespace: options that say otherwise are refused; none
    // (a client that sends none) means the pod's.
    if sc.hasNamespaceOptions && ns.hasUsernsOptions {
      let usernsField = "\(field).namespace_options.userns_options"
      let asked = try CRIUserNamespace.podMappings(ns, hasOptions: true, field: usernsField)
      if asked != sandbox.manifest.userNamespace {
        let pod = sandbox.manifest.userNamespace.map { "mode POD with uids \($0.uids.map { "\($0.containerID):\($0.hostID):\($0.size)" }) gids \($0.gids.map { "\($0.containerID):\($0.hostID):\($0.size)" })" } ?? "mode NODE"
        throw LiftoffError.invalidArgument("\(usernsField) must match sandbox \(sandbox.id)'s user namespace (\(pod))")
      }
    }
  }

  /// A profile as the handler's annotation holds it (`localhost=/PATH`, the flag's form) as the app's.
  static func manifestSeccomp(_ s: String) -> String {
    s.hasPrefix("localhost=") ? "localhost/" + s.dropFirst("localhost=".count) : s
  }

  /// The default set, minus drops, plus adds; `ALL` in drop empties it, in add fills it.
  func capabilitySet(_ c: Runtime_V1_Capability) throws -> [String] {
    func normalized(_ list: [String], _ what: String) throws -> [String] {
      try list.map { name in
        if name.uppercased() == "ALL" || name.uppercased() == "CAP_ALL" { return "ALL" }
        guard let n = Capabilities.normalize(name) else {
          throw LiftoffError.invalidArgument("config.linux.security_context.capabilities.\(what): unknown capability \"\(name)\"")
        }
        return n
      }
    }
    let drop = try normalized(c.dropCapabilities, "drop_capabilities")
    let add = try normalized(c.addCapabilities, "add_capabilities")
    var set = drop.contains("ALL") ? [] : Capabilities.defaultSet.filter { !drop.contains($0) }
    if add.contains("ALL") {
      set = Array(Capabilities.names.prefix(Capabilities.lastCap() + 1))
    } else {
      for n in add where !set.contains(n) { set.append(n) }
    }
    return set
  }

  /// No profile given means unconfined, as in containerd and CRI-O (kubelet asks for RuntimeDefault
  /// when seccompDefault is on).
  func seccompProfile(_ sc: Runtime_V1_LinuxContainerSecurityContext) throws -> String {
    let field = "config.linux.security_context.seccomp"
    if sc.hasSeccomp {
      switch sc.seccomp.profileType {
      case .runtimeDefault: return "runtime/default"
      case .unconfined: return "unconfined"
      case .localhost: return try localhostProfile(sc.seccomp.localhostRef, field: "\(field).localhost_ref")
      case .UNRECOGNIZED(let n): throw LiftoffError.invalidArgument("\(field).profile_type \(n) is unknown")
      }
    }
    switch sc.seccompProfilePath {
    case "", "unconfined": return "unconfined"
    case "runtime/default", "docker/default": return "runtime/default"
    case let p where p.hasPrefix("localhost/"):
      return try localhostProfile(String(p.dropFirst("localhost/".count)), field: "\(field)_profile_path")
    default:
      throw LiftoffError.invalidArgument("\(field)_profile_path \(sc.seccompProfilePath) is not runtime/default, unconfined or localhost/PATH")
    }
  }

  /// A Localhost profile: an absolute path to an OCI-format JSON profile on the node, compiled by
  /// `liftoff app add` (which names the path and the bad field when the profile is wrong).
  func localhostProfile(_ path: String, field: String) throws -> String {
    guard path.hasPrefix("/") else {
      throw LiftoffError.invalidArgument("\(field) \"\(path)\" is not an absolute path")
    }
    return "localhost/" + path
  }
}
