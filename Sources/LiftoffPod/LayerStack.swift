// Reading a file of an image from its unpacked layers, as the container will see it, before any
// rootfs is mounted (stage0 looks users and groups up in the image's /etc/passwd and /etc/group).
//
// The path is resolved in the merged view of the layers — the topmost entry of each component wins,
// whiteouts and opaque directories hide what is below (overlayfs' own form, which LayerUnpacker
// writes: a 0:0 character device, the trusted.overlay.opaque xattr; and the OCI form, `.wh.NAME` and
// `.wh..wh..opq`, for rootfs directories used as images), and symlinks are
// followed inside the view (an absolute target from the image's root, at most 40 of them) — and every
// step inside a layer directory is taken with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): an image
// whose /etc is a symlink to a host directory resolves to that path *in the image*, never to the
// host's file (the host's /etc/shadow stays out of reach, whatever the image holds).
import Glibc
import LiftoffCore
import LiftoffOS

public struct LayerStack: Sendable {
  /// Layer directories, lowest first (as ResolvedImage lists them).
  public let layers: [String]

  public init(layers: [String]) { self.layers = layers }

  /// The file at `path` in the merged view, up to `limit` bytes; nil when it is missing, not a regular
  /// file, larger than the limit, or its path leaves the view in a way the view cannot follow.
  public func readFile(_ path: String, limit: Int = 4 << 20) -> [UInt8]? {
    guard let (layer, relative) = locate(path) else { return nil }
    guard let dir = try? Rootfs(path: layer), let fd = try? dir.openBeneath(relative, flags: O_RDONLY) else { return nil }
    var st = stat()
    guard fstat(fd.raw, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size <= limit else { return nil }
    return try? FileSystem.readAll(fd.raw, limit: limit)
  }

  /// The layer holding what `path` names in the merged view, and its path in that layer (free of
  /// symlinks); nil when nothing is there.
  public func locate(_ path: String) -> (layer: String, relative: String)? {
    if case .found(let layer, let relative, _) = walk(path, strict: false) { return (layer, relative) }
    return nil
  }

  /// An image volume's sub path (CRI `image_sub_path`), checked as containerd checks it: it must
  /// resolve to a directory of the merged view without leaving it — a `..` above the image's root or
  /// an absolute symlink is an error, not confined (Go's os.Root) — the same rule stage1 applies with
  /// openat2(RESOLVE_BENEATH) when it mounts the volume.
  public func checkSubdirectory(_ path: String, image: String) throws(LiftoffError) {
    switch walk(path, strict: true) {
    case .found(_, _, S_IFDIR): return
    case .found: throw .invalidArgument("image \(image): sub path \(path) is not a directory (only a directory can be mounted)")
    case .missing: throw .invalidArgument("image \(image): sub path \(path) does not exist in the image")
    case .escapes: throw .invalidArgument("image \(image): sub path \(path) leads out of the image (through .. or an absolute symlink)")
    }
  }

  enum Walk {
    case found(layer: String, relative: String, type: mode_t)
    case missing
    case escapes
  }

  /// Resolves `path` in the merged view; `strict`: leaving the root is `.escapes` (otherwise `..` stops
  /// at the root and an absolute symlink starts from it).
  func walk(_ path: String, strict: Bool) -> Walk {
    if strict && path.hasPrefix("/") { return .escapes }
    var pending = Self.components(path)
    var resolved: [String] = []
    var links = 0
    guard !pending.isEmpty else { return strict ? .found(layer: layers.last ?? "", relative: ".", type: S_IFDIR) : .missing }
    while !pending.isEmpty {
      let c = pending.removeFirst()
      if c == ".." {
        if strict && resolved.isEmpty { return .escapes }
        _ = resolved.popLast()
        if pending.isEmpty && strict { return .found(layer: layers.last ?? "", relative: resolved.joined(separator: "/"), type: S_IFDIR) }
        continue
      }
      guard let (layer, type) = lookup(resolved, c) else { return .missing }
      switch type {
      case S_IFLNK:
        links += 1
        guard links <= 40, let target = readLink(layer, (resolved + [c]).joined(separator: "/")) else { return .missing }
        if target.hasPrefix("/") {
          if strict { return .escapes }
          resolved = []
        }
        pending = Self.components(target) + pending
      case S_IFDIR:
        resolved.append(c)
        if pending.isEmpty { return .found(layer: layer, relative: resolved.joined(separator: "/"), type: S_IFDIR) }
      default:
        guard pending.isEmpty else { return .missing }  // a file in the middle of the path
        return .found(layer: layer, relative: (resolved + [c]).joined(separator: "/"), type: type)
      }
    }
    return .missing
  }

  static func components(_ path: String) -> [String] {
    path.split(separator: "/").map(String.init).filter { $0 != "." }
  }

  /// The topmost layer with an entry `name` in directory `dir` (a resolved, symlink-free path) of the
  /// merged view, and the entry's type.
  func lookup(_ dir: [String], _ name: String) -> (layer: String, type: mode_t)? {
    for layer in layers.reversed() {
      guard let root = try? Rootfs(path: layer) else { continue }
      // Walk `dir` in this layer one component at a time: a whiteout of a component hides it (and
      // everything below) in the layers underneath; a non-directory there too; an opaque directory
      // hides the layers underneath once this layer has been looked at.
      var current = "."
      var hidden = false
      var opaque = false
      var present = true
      for part in dir {
        if root.existsBeneath(current + "/.wh." + part) { hidden = true; break }
        let next = current == "." ? part : current + "/" + part
        switch root.typeBeneath(next) {
        case nil: present = false
        case S_IFDIR?: break
        default: hidden = true  // a file, a symlink or a whiteout hides the directory below
        }
        if hidden || !present { break }
        if root.existsBeneath(next + "/.wh..wh..opq") || root.isOpaqueBeneath(next) { opaque = true }
        current = next
      }
      if hidden { return nil }
      if present {
        if root.existsBeneath(current + "/.wh." + name) { return nil }
        let path = current == "." ? name : current + "/" + name
        if let type = root.typeBeneath(path) {
          if type == S_IFCHR && root.isWhiteoutBeneath(path) { return nil }
          return (layer, type)
        }
      }
      if opaque { return nil }
    }
    return nil
  }

  func readLink(_ layer: String, _ relative: String) -> String? {
    guard let root = try? Rootfs(path: layer) else { return nil }
    return root.readLinkBeneath(relative)
  }
}
