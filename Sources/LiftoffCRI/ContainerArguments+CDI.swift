// CDI devices (Container Device Interface) of CreateContainer, as containerd 2.x and CRI-O take them:
// the names in `config.CDI_devices`, then those of the `cdi.k8s.io/*` annotations (comma-separated
// lists), each once. They are untrusted input: each must be a valid qualified name
// (INVALID_ARGUMENT naming it). The node's specs (`cdi-spec-dirs`, trusted configuration) are looked at
// by each CreateContainer that asks for a device (a file parsed again only when it changed); a spec that cannot be used is skipped with a warning
// naming its file, and a name no usable spec defines fails with INVALID_ARGUMENT naming it.
//
// The edits apply in the reference implementation's order (per device: its spec's edits once, then
// its own) and become the `app add` request's, so that every node and mount goes through the same
// checked paths as the CRI's own devices and mounts:
//   env             KEY=VALUE, replacing the container's value of the same KEY
//   deviceNodes     a described device with type and numbers from the spec or, where absent, the host
//                   node (hostPath, else path); the device cgroup gets the node's permissions (rwm by
//                   default, none for `none`); uid/gid default to the container's user and group
//   mounts          bind mounts with ro/rw, propagation and nosuid/nodev/noexec
//   additionalGids  supplementary groups (0 skipped, as the reference implementation does)
//   hooks           the app's OCI hooks, in the same order (stage1 runs them: LiftoffCore/AppHook.swift);
//                   a hook whose path is not absolute or timeout not positive is INVALID_ARGUMENT
//   intelRdt        refused with UNIMPLEMENTED naming the device (no resctrl here): never ignored
// A later node or mount for the same container path replaces an earlier one (the CRI's own too), as
// the reference implementation's RemoveDevice/RemoveMount before each add.
import Foundation
import LiftoffCDI
import LiftoffCore
import LiftoffOS
import LiftoffPod
import Logging

/// What the requested CDI devices add to a container.
struct CDIContainerChanges {
  var env: [String] = []
  /// Device nodes, by container path (a later one replaces an earlier one).
  var devices: [(path: String, device: AppDevice)] = []
  /// Bind mounts, by container path.
  var mounts: [(path: String, mount: AppMount)] = []
  var groups: [UInt32] = []
  /// OCI hooks, in the devices' order.
  var hooks: [AppHook] = []

  var devicePaths: Set<String> { Set(devices.map(\.path)) }
  var mountPaths: Set<String> { Set(mounts.map(\.path)) }
}

extension ContainerArguments {
  /// The requested qualified names, validated, in order and without repeats.
  static func requestedCDIDevices(_ config: Runtime_V1_ContainerConfig) throws -> [CDIName] {
    var names: [CDIName] = []
    for (i, d) in config.cdiDevices.enumerated() {
      do { names.append(try CDIName(parsing: d.name)) } catch {
        throw LiftoffError.invalidArgument("config.CDI_devices[\(i)].name: \(error.message)")
      }
    }
    do { names += try CDIName.fromAnnotations(config.annotations) } catch {
      throw LiftoffError.invalidArgument("config.annotations: \(error.message)")
    }
    var seen: Set<CDIName> = []
    return names.filter { seen.insert($0).inserted }
  }

  /// Reads the spec directories and resolves the request; nothing is read when no device is asked for.
  static func resolveCDIDevices(
    _ config: Runtime_V1_ContainerConfig, directories: [String], cache: CDISpecCache, logger: Logger
  ) throws -> [CDIRegistry.Resolved] {
    let names = try requestedCDIDevices(config)
    guard !names.isEmpty else { return [] }
    let registry = CDIRegistry(directories: directories, cache: cache)
    for p in registry.problems {
      logger.warning("CDI spec skipped", metadata: ["file": "\(p.path)", "problem": "\(p.message)"])
    }
    do { return try registry.resolve(names) } catch {
      throw LiftoffError.invalidArgument("\(error.message) (no usable spec in \(directories.joined(separator: ", ")) defines them)")
    }
  }

  /// The resolved devices' edits, for the `app add` request.
  func cdiChanges() throws -> CDIContainerChanges {
    var c = CDIContainerChanges()
    let sc = config.linux.securityContext
    let processUID = sc.hasRunAsUser ? UInt32(clamping: sc.runAsUser.value) : 0
    let processGID = sc.hasRunAsGroup ? UInt32(clamping: sc.runAsGroup.value) : 0
    for r in cdiDevices {
      let what = "CDI device \(r.device) (spec \(r.specPath))"
      for h in r.edits.hooks {
        guard let stage = AppHook.Stage(rawValue: h.hookName) else {
          throw LiftoffError.invalidArgument("\(what): unknown hook \(h.hookName)")
        }
        let hook = AppHook(stage: stage, path: h.path, args: h.args, env: h.env, timeoutSeconds: h.timeout, name: what)
        if let p = hook.problem { throw LiftoffError.invalidArgument("\(what): hook \(h.hookName) (\(h.path)): \(p)") }
        c.hooks.append(hook)
      }
      if r.edits.intelRdt { throw LiftoffError(.unimplemented, "\(what): intelRdt is not supported") }
      for kv in r.edits.env {
        let key = kv.prefix { $0 != "=" }
        c.env.removeAll { $0.prefix { $0 != "=" } == key }
        c.env.append(kv)
      }
      for n in r.edits.deviceNodes {
        let device = try Self.cdiDevice(n, uid: processUID, gid: processGID, what: what)
        c.devices.removeAll { $0.path == n.path }
        c.devices.append((n.path, device))
      }
      for m in r.edits.mounts {
        let mount = try cdiMount(m, what: what)
        c.mounts.removeAll { $0.path == m.containerPath }
        c.mounts.append((m.containerPath, mount))
      }
      for g in r.edits.additionalGIDs where g != 0 && !c.groups.contains(g) { c.groups.append(g) }
    }
    // As the reference implementation: shallower mount points first (stable), so a mount never hides another.
    c.mounts = c.mounts.enumerated().sorted {
      let (a, b) = (Self.depth($0.element.path), Self.depth($1.element.path))
      return a != b ? a < b : $0.offset < $1.offset
    }.map(\.element)
    return c
  }

  static func depth(_ path: String) -> Int { path.split(separator: "/").count }

  /// A device node described in full: what the spec leaves out comes from the host node (as the
  /// reference implementation's fillMissingInfo: a type with a major number is enough without one).
  static func cdiDevice(_ n: CDIDeviceNode, uid: UInt32, gid: UInt32, what: String) throws -> AppDevice {
    let field = "\(what): device node \(n.path)"
    guard n.path.hasPrefix("/dev/"), !n.path.split(separator: "/").contains("..") else {
      throw LiftoffError(.unimplemented, "\(field): only paths under /dev (without '..') are supported")
    }
    var type = n.type
    var major = n.major, minor = n.minor
    var mode = n.fileMode
    let minimal = type != nil && (major != 0 || type == "p")
    let host = n.hostPath ?? n.path
    do {
      let st = try FileSystem.fileStat(host, follow: false)
      let hostType: String
      switch st.st_mode & S_IFMT {
      case S_IFCHR: hostType = "c"
      case S_IFBLK: hostType = "b"
      case S_IFIFO: hostType = "p"
      default: throw LiftoffError.invalidArgument("\(field): host path \(host) is not a device node")
      }
      if mode == nil { mode = UInt32(st.st_mode & 0o777) }
      if !minimal {
        if type == nil { type = hostType }
        guard type == hostType || (type == "u" && hostType == "c") else {
          throw LiftoffError.invalidArgument("\(field): type \(type!) does not match the host node \(host) (\(hostType))")
        }
        if major == 0 {
          major = Int64(FileSystem.major(st.st_rdev))
          minor = Int64(FileSystem.minor(st.st_rdev))
        }
      }
    } catch let e as LiftoffError where e.code == .invalidArgument {
      throw e
    } catch {
      guard minimal else { throw LiftoffError.invalidArgument("\(field): cannot read the host node \(host): \(error)") }
    }
    guard let t = type, t != "p" else {
      throw LiftoffError(.unimplemented, "\(field): FIFO device nodes (type p) are not supported")
    }
    let access = n.permissions == "none" ? "" : (n.permissions ?? "rwm")
    guard let major32 = UInt32(exactly: major), let minor32 = UInt32(exactly: minor) else {
      throw LiftoffError.invalidArgument("\(field): major \(major) or minor \(minor) is out of range")
    }
    return AppDevice(
      path: n.path, type: t == "b" ? "b" : "c", major: major32, minor: minor32, fileMode: mode ?? 0o666, uid: n.uid ?? uid,
      gid: n.gid ?? gid, permissions: access)
  }

  /// A mount: bind mounts only, with ro/rw, propagation and nosuid/nodev/noexec.
  func cdiMount(_ m: CDIMount, what: String) throws -> AppMount {
    let field = "\(what): mount \(m.containerPath)"
    guard m.type.isEmpty || m.type == "bind" else {
      throw LiftoffError(.unimplemented, "\(field): mount type \(m.type) is not supported (only bind mounts)")
    }
    guard m.hostPath.hasPrefix("/"), m.containerPath.hasPrefix("/") else {
      throw LiftoffError.invalidArgument("\(field): hostPath and containerPath must be absolute")
    }
    guard sandbox.manifest.userNamespace == nil else {
      throw LiftoffError(.unimplemented, "\(field): CDI mounts in a pod with a user namespace are not supported yet")
    }
    guard FileManager.default.fileExists(atPath: m.hostPath) else {
      throw LiftoffError(.failedPrecondition, "\(field): host path \(m.hostPath) does not exist")
    }
    var readOnly = false, bind = m.type == "bind"
    var propagation: AppMount.Propagation?
    var flags: [String] = []
    for o in m.options {
      switch o {
      case "bind", "rbind": bind = true  // every bind is recursive here: submounts of hostPath come along
      case "ro": readOnly = true
      case "rw": readOnly = false
      case "private", "rprivate", "slave", "rslave", "shared", "rshared": propagation = AppMount.Propagation(rawValue: o)
      case "nosuid", "nodev", "noexec": if !flags.contains(o) { flags.append(o) }
      default: throw LiftoffError(.unimplemented, "\(field): mount option \(o) is not supported")
      }
    }
    guard bind else { throw LiftoffError(.unimplemented, "\(field): a mount without type bind or a bind/rbind option is not supported") }
    var mount = AppMount(destination: m.containerPath, source: m.hostPath, readOnly: readOnly)
    if let propagation { mount.propagation = propagation }
    mount.flags = flags
    return mount
  }
}
