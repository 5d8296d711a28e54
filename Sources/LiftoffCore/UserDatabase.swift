// /etc/passwd and /etc/group of an image, parsed (passwd(5), group(5)), to resolve `--user` and
// `--group` names and the user's supplementary groups the way a container runtime does:
// the image's own files, never the host's.

public struct UserDatabase: Sendable {
  public struct User: Sendable, Equatable { public var name: String; public var uid: UInt32; public var gid: UInt32; public var home: String }
  public struct Group: Sendable, Equatable { public var name: String; public var gid: UInt32; public var members: [String] }

  public var users: [User]
  public var groups: [Group]

  public init(passwd: String, group: String) {
    users = passwd.split(separator: "\n").compactMap { line in
      let f = line.split(separator: ":", omittingEmptySubsequences: false)
      guard f.count >= 4, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
      return User(name: String(f[0]), uid: uid, gid: gid, home: f.count > 5 ? String(f[5]) : "/")
    }
    groups = group.split(separator: "\n").compactMap { line in
      let f = line.split(separator: ":", omittingEmptySubsequences: false)
      guard f.count >= 3, let gid = UInt32(f[2]) else { return nil }
      let members = f.count > 3 ? f[3].split(separator: ",").map(String.init) : []
      return Group(name: String(f[0]), gid: gid, members: members)
    }
  }

  /// Resolves `user` (name or uid, optionally `user:group`) and `group` (name or gid) to ids.
  /// Numeric ids need no entry; names must exist. Supplementary groups: every group listing the
  /// user by name, plus the primary group of its passwd entry when `group` overrides it.
  public func resolve(user: String?, group: String?) throws(LiftoffError) -> AppUser {
    var userPart = user ?? ""
    var groupPart = group
    if let i = userPart.firstIndex(of: ":") {
      if groupPart == nil { groupPart = String(userPart[userPart.index(after: i)...]) }
      userPart = String(userPart[..<i])
    }
    var uid: UInt32 = 0
    var gid: UInt32 = 0
    var entry: User?
    if userPart.isEmpty {
      entry = users.first { $0.uid == 0 }
    } else if let n = UInt32(userPart) {
      uid = n
      entry = users.first { $0.uid == n }
      gid = entry?.gid ?? 0
    } else {
      guard let e = users.first(where: { $0.name == userPart }) else {
        throw .invalidArgument("user \(userPart) not found in the image's /etc/passwd")
      }
      entry = e
    }
    if let entry {
      uid = entry.uid
      gid = entry.gid
    }
    if let g = groupPart, !g.isEmpty {
      if let n = UInt32(g) {
        gid = n
      } else {
        guard let e = groups.first(where: { $0.name == g }) else {
          throw .invalidArgument("group \(g) not found in the image's /etc/group")
        }
        gid = e.gid
      }
    }
    var extra: [UInt32] = []
    if let name = entry?.name {
      for g in groups where g.members.contains(name) && !extra.contains(g.gid) { extra.append(g.gid) }
    }
    if !extra.contains(gid) { extra.insert(gid, at: 0) }
    return AppUser(uid: uid, gid: gid, additionalGids: extra)
  }
}
