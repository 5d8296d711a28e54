// The pods on disk (shared/DESIGN.md "On-disk state"), rkt's layout:
//
//   pods/embryo/<id>/   being created by stage0        pods/prepared/<id>/  ready to run
//   pods/prepare/<id>/  being prepared (flock held)    pods/run/<id>/       stage0 attaching the network,
//                                                                           then stage1 (flock held)
//   pods/exited-garbage/<id>/  exited, marked for gc   pods/garbage/<id>/   failed to prepare, for gc
//
// A pod changes state by rename(2) of its directory. Whoever holds the directory's flock owns the
// pod: stage0 while creating and preparing, stage1 for the pod's life. A pod in run/ whose lock
// can be taken has exited (or its stage1 crashed, or stage0 died before stage1). `run` and
// `app sandbox` rename prepare/ straight to run/, so a killed creator never leaves a prepared pod.
//
// Creation race: between mkdir and flock a new embryo is unlocked. Creators hold a shared flock on
// pods/embryo itself across mkdir+flock; gc takes it exclusively before judging embryos.
import Foundation
import LiftoffCore
import LiftoffNet
import LiftoffOS

public struct PodStore: Sendable {
  public enum Place: String, Sendable, CaseIterable {
    case embryo, prepare, prepared, run
    case exitedGarbage = "exited-garbage"
    case garbage
  }

  /// The Liftoff data root (`--dir`, default /var/lib/liftoff).
  public let root: String

  public init(root: String) throws(LiftoffError) {
    // Canonical and absolute: mount tables and stage1 see real paths.
    do {
      // Root's alone, tightened if an older install left them open (0711): pod.json holds the apps'
      // environment. Nothing below is reached by path from inside a pod (user namespaces too:
      // stage1 builds each app's mounts as host root before the app joins its user namespace).
      try FileSystem.makePrivateDirectory(root)
      self.root = try Mounts.canonical(root)
      try FileSystem.makePrivateDirectory("\(self.root)/pods")
      for p in Place.allCases { try FileSystem.makePrivateDirectory("\(self.root)/pods/\(p.rawValue)") }
    } catch {
      throw LiftoffError(.failedPrecondition, "cannot use data directory \(root)", cause: error)
    }
  }

  public static let defaultRoot = "/var/lib/liftoff"

  public func dir(_ place: Place) -> String { "\(root)/pods/\(place.rawValue)" }
  public func path(_ place: Place, _ id: String) -> String { "\(dir(place))/\(id)" }

  /// Creates `pods/embryo/<new id>` and returns it locked (exclusively) by the caller.
  public func createEmbryo() throws(LiftoffError) -> (id: String, lock: FileLock) {
    do {
      let embryoDirLock = try FileLock(path: dir(.embryo))
      try embryoDirLock.lock(exclusive: false, blocking: true)
      defer { embryoDirLock.unlock() }
      let id = Random.hex(bytes: 32)
      let p = path(.embryo, id)
      guard mkdir(p, 0o700) == 0 else { throw SystemCallError("mkdir", errno: errno, path: p) }
      let lock = try FileLock(path: p)
      try lock.lock(exclusive: true, blocking: false)
      return (id, lock)
    } catch let e as SystemCallError {
      throw LiftoffError(.internal, "creating a pod in \(dir(.embryo))", cause: e)
    } catch {
      throw LiftoffError(.internal, "creating a pod: \(error)")
    }
  }

  /// rename(2) of a pod directory from one place to another.
  public func move(_ id: String, from: Place, to: Place) throws(LiftoffError) {
    let a = path(from, id), b = path(to, id)
    guard rename(a, b) == 0 else {
      let e = errno
      if e == ENOENT { throw LiftoffError(.notFound, "pod \(id) is no longer in \(from.rawValue)") }
      throw LiftoffError(.internal, "moving pod \(id) from \(from.rawValue) to \(to.rawValue)", cause: SystemCallError("rename", errno: e, path: a))
    }
    FileSystem.fsyncDirectory(of: b)
  }

  /// Where a pod is now (nil when it is gone). Searched in the order a pod moves through.
  public func locate(_ id: String) -> Place? {
    for p in Place.allCases where FileSystem.exists(path(p, id)) { return p }
    return nil
  }

  /// Every pod ID with its place.
  public func all() -> [(id: String, place: Place)] {
    var out: [(String, Place)] = []
    for p in Place.allCases {
      for name in (try? FileSystem.list(dir(p))) ?? [] where PodID.isValid(name) { out.append((name, p)) }
    }
    return out
  }

  /// Resolves a full ID or a unique prefix.
  public func resolve(_ prefix: String) throws(LiftoffError) -> (id: String, place: Place) {
    let p = prefix.lowercased()
    guard !p.isEmpty, p.allSatisfy({ $0.isHexDigit }), p.count <= 64 else {
      throw .invalidArgument("invalid pod id \(prefix): expected up to 64 hex characters")
    }
    // A whole ID is looked up where it can be (liftoff-cri always gives one), not among every pod:
    // the listing was a directory read per place and a sort, ~0.2 ms at 100 pods.
    if p.count == 64 {
      guard let place = locate(p) else { throw .notFound("pod \(prefix) not found") }
      return (p, place)
    }
    // Pods can move between the listing and the lookup; relocate by ID.
    let matches = Set(all().filter { $0.id.hasPrefix(p) }.map(\.id))
    guard !matches.isEmpty else { throw .notFound("pod \(prefix) not found") }
    guard matches.count == 1, let id = matches.first else {
      throw .invalidArgument("pod id prefix \(prefix) is ambiguous (\(matches.count) pods)")
    }
    guard let place = locate(id) else { throw .notFound("pod \(prefix) not found") }
    return (id, place)
  }

  /// The pod's manifest as it stands: without the apps `app rm` has taken away
  /// (PodManifest.withoutRemovedApps).
  public func readManifest(_ id: String, at place: Place) throws(LiftoffError) -> PodManifest {
    Self.standing(try readManifestFile(id, at: place), podDir: path(place, id))
  }

  /// pod.json as written, which may still list an app `app rm` has taken away; for the writers, who
  /// leave it out.
  public func readManifestFile(_ id: String, at place: Place) throws(LiftoffError) -> PodManifest {
    let file = "\(path(place, id))/pod.json"
    let text: String
    do { text = try FileSystem.readString(file) } catch {
      throw LiftoffError(error.errno == ENOENT ? .notFound : .internal, "pod \(id): no manifest", cause: error)
    }
    return try PodManifest.parse(text)
  }

  static func standing(_ m: PodManifest, podDir: String) -> PodManifest {
    m.withoutRemovedApps(podDir: podDir) { FileSystem.exists($0) }
  }

  public func readAppState(_ id: String, at place: Place, app: String) -> AppState? {
    guard let text = try? FileSystem.readString("\(path(place, id))/apps/\(app)/state.json"),
      let json = try? JSON.parse(text)
    else { return nil }
    return try? AppState(json: json)
  }

  /// Network namespace path of a pod (deterministic, so gc can find it after any crash).
  public static func netnsPath(_ id: String) -> String { "\(NetworkNamespace.defaultRunDir)/liftoff-\(id)" }
}

public enum PodID {
  public static func isValid(_ s: String) -> Bool {
    s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
  }
}
