// User namespaces through the CRI (KEP-127): kubelet sends `namespace_options.userns_options`
// (UserNamespace{mode, uids, gids}) on the sandbox and the same on each container; mode NODE (or no
// options) means the host's user namespace, POD one user namespace for the whole pod with exactly
// the given mappings (kubelet: container 0 → host N·65536, length 65536; container ID 0 must be mapped,
// in uids and in gids). CONTAINER and TARGET are not built. A mount's `uid_mappings`/`gid_mappings` ask for an idmapped bind mount.
// Status advertises `user_namespaces` for the default handlers only when the start-up probe made an
// idmapped mount of the state directory's file system; never for `fly` (host namespaces).
// `user_namespaces_host_network` likewise: the pod's other namespaces (the host's network here) stay
// owned by the host's user namespace, the apps join the pod's user namespace last (stage1's
// AppUserNamespace.swift), so a host-network pod gets the host's /sys bound read-only as any other.
import LiftoffCore
import LiftoffOS

extension CRIRuntime {
  /// nil when this kernel and the state directory's file system can do what stage1 needs for a
  /// user-namespaced pod (a user namespace with a mapping, an idmapped clone of a mount); else why not.
  static func probeUserNamespaces(dir: String) -> String? {
    var d = dir
    while !FileSystem.isDirectory(d) && d != "/" { d = FileSystem.parent(of: d) }
    if let e = UserNamespace.probeIDMappedMounts(d) { return "\(e)" }
    return nil
  }
}

enum CRIUserNamespace {
  static func mappings(_ list: [Runtime_V1_IDMapping]) -> [IDMapping] {
    list.map { IDMapping(containerID: $0.containerID, hostID: $0.hostID, size: $0.length) }
  }

  /// The pod's user namespace from a sandbox's options: nil for NODE (or none); errors name `field`.
  static func podMappings(_ ns: Runtime_V1_NamespaceOption, hasOptions: Bool, field: String) throws -> UserNamespaceMappings? {
    guard hasOptions, ns.hasUsernsOptions else { return nil }
    let u = ns.usernsOptions
    switch u.mode {
    case .node:
      guard u.uids.isEmpty && u.gids.isEmpty else {
        throw LiftoffError.invalidArgument("\(field).uids/gids: mappings are only for mode POD, not NODE")
      }
      return nil
    case .pod:
      guard !u.uids.isEmpty else { throw LiftoffError.invalidArgument("\(field).uids: mode POD needs at least one mapping") }
      guard !u.gids.isEmpty else { throw LiftoffError.invalidArgument("\(field).gids: mode POD needs at least one mapping") }
      let m = UserNamespaceMappings(uids: mappings(u.uids), gids: mappings(u.gids))
      try IDMapping.validate(m.uids, field: "\(field).uids")
      try IDMapping.validate(m.gids, field: "\(field).gids")
      // The pod's processes start as its root (stage1 sets each app up as root inside, and kubelet
      // always maps container 0): without it nothing could run there, and the sandbox would come up
      // only for every container to fail (critest: "should fail if container ID 0 is not mapped").
      for (name, list) in [("uids", m.uids), ("gids", m.gids)] where IDMapping.host(0, in: list) == nil {
        throw LiftoffError.invalidArgument("\(field).\(name): container id 0 is not mapped")
      }
      return m
    case .container, .target:
      throw LiftoffError(.unimplemented, "\(field).mode \(u.mode): only POD and NODE user namespaces are supported")
    case .UNRECOGNIZED(let n):
      throw LiftoffError.invalidArgument("\(field).mode \(n) is unknown")
    }
  }

  /// The options PodSandboxStatus reports for a pod.
  static func options(_ m: UserNamespaceMappings?) -> Runtime_V1_UserNamespace {
    var u = Runtime_V1_UserNamespace()
    guard let m else {
      u.mode = .node
      return u
    }
    u.mode = .pod
    func proto(_ list: [IDMapping]) -> [Runtime_V1_IDMapping] {
      list.map {
        var p = Runtime_V1_IDMapping()
        p.containerID = $0.containerID
        p.hostID = $0.hostID
        p.length = $0.size
        return p
      }
    }
    u.uids = proto(m.uids)
    u.gids = proto(m.gids)
    return u
  }

  /// An idmapped bind mount's mappings, from a CRI mount's (errors name `field`); empty when it has none.
  static func volumeMappings(_ m: Runtime_V1_Mount, field: String) throws -> (uids: [IDMapping], gids: [IDMapping]) {
    guard !m.uidMappings.isEmpty || !m.gidMappings.isEmpty else { return ([], []) }
    guard !m.uidMappings.isEmpty else { throw LiftoffError.invalidArgument("\(field).uid_mappings: empty while gid_mappings is set") }
    guard !m.gidMappings.isEmpty else { throw LiftoffError.invalidArgument("\(field).gid_mappings: empty while uid_mappings is set") }
    let uids = mappings(m.uidMappings)
    let gids = mappings(m.gidMappings)
    try IDMapping.validate(uids, field: "\(field).uid_mappings")
    try IDMapping.validate(gids, field: "\(field).gid_mappings")
    return (uids, gids)
  }
}
