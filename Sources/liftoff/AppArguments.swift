// The per-app part of `liftoff run|prepare`: rkt's grammar
//   IMAGE [--name N] [--exec CMD] [app flags…] [-- ARGS…] [--- IMAGE2 …]
// which ArgumentParser cannot express (flags bound to the image before them), so it is parsed here.
import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod

struct AppArguments {
  static let help = """
    App flags (after each IMAGE): --name N, --exec CMD, --set-env K=V, --set-env-file FILE|- (KEY=VALUE
    lines, or NUL-separated entries), --user U, --group G,
    --working-dir D, --volume HOST:CTR[:ro|rro][:rshared|rslave|rprivate][:nosuid][:nodev][:noexec][:uidmap=C-H-L[,…]:gidmap=C-H-L[,…]]
    (idmapped), --mount tmpfs:CTR[:SIZE], --mount image=IMAGE,target=CTR[,name=NAME][,subpath=DIR] (an
    image volume: the store image's files at CTR, or its directory DIR (which may hold ','; given last),
    read-only, noexec, nosuid, nodev; NAME: the name to record, e.g. the one an ID was resolved from),
    --readonly-rootfs, --caps-retain C1,C2, --caps-remove C1,C2, --caps-ambient C1,C2,
    --seccomp runtime/default|unconfined|localhost=/PROFILE.json, --oom-score-adj N, --rlimit NOFILE=soft:hard,
    --no-new-privileges[=false], --privileged, --masked-paths P1,P2, --readonly-paths P1,P2 (replace the
    defaults; empty: none), --sysctl K=V (namespaced only), --device HOST[:CTR[:rwm]] (or path=CTR,type=c|b,major=N,minor=N,mode=OCTAL,uid=N,gid=N,access=[rwm]),
    --supplementary-groups G1,G2, --supplementary-groups-policy merge|strict, --pid-namespace container|host|pod|target:APP,
    --stop-signal SIG, --annotation K=V, --label K=V, --hook STAGE={"path":"/ABS","args":[…],"env":[…],"timeout":N}
    (an OCI hook; STAGE prestart|createRuntime|createContainer|startContainer|poststart|poststop; repeatable,
    run in order), -- ARGS…, --- next IMAGE
    Resource flags (also for `app update`): \(resourceHelp)
    """

  static let resourceHelp = """
    --memory 64M, --memory-swap 128M|-1 (memory+swap), --cpu 500m, --cpu-period US, --cpu-quota US|-1,
    --cpu-shares N, --cpuset-cpus 0-1, --cpuset-mems 0, --pids N|-1, --hugepage 2MB=LIMIT (repeatable),
    --unified FILE=VALUE (cgroup v2 only, repeatable, e.g. memory.high=64M)
    """

  static let resourceFlags: Set<String> = [
    "--memory", "--memory-swap", "--cpu", "--cpu-period", "--cpu-quota", "--cpu-shares", "--cpuset-cpus",
    "--cpuset-mems", "--pids", "--hugepage", "--unified",
  ]

  /// rkt's `--set-env-file`: KEY=VALUE entries, one per line (empty lines and `#` comments skipped),
  /// or NUL-separated when the file holds a NUL (values with newlines; `-` reads stdin, so that no
  /// environment is on a command line — liftoff-cri sends it inside its `--spec-file -` request).
  static func readEnvironmentFile(_ path: String) throws -> [String] {
    let bytes: [UInt8]
    do { bytes = try FileSystem.readBytes(path == "-" ? "/dev/stdin" : path) } catch {
      throw LiftoffError.invalidArgument("--set-env-file \(path): \(error)")
    }
    let entries: [String]
    if bytes.contains(0) {
      entries = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    } else {
      entries = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init).filter {
        !$0.isEmpty && !$0.hasPrefix("#")
      }
    }
    for e in entries {
      guard let eq = e.firstIndex(of: "="), eq != e.startIndex else {
        throw LiftoffError.invalidArgument("--set-env-file \(path): \"\(e.prefix(40))\" is not KEY=VALUE")
      }
    }
    return entries
  }

  /// One resource flag (`resourceFlags`) into `r`; values are checked for form here, for range by
  /// AppResources.validate.
  static func parseResource(_ flag: String, _ v: String, into r: inout AppResources) throws {
    func int(_ allowMinusOne: Bool = false) throws -> Int64 {
      guard let n = Int64(v), n > 0 || (allowMinusOne && n == -1) else {
        throw LiftoffError.invalidArgument("\(flag) \(v): expected a positive number\(allowMinusOne ? " or -1" : "")")
      }
      return n
    }
    switch flag {
    case "--memory": r.memoryBytes = try parseBytes(v)
    case "--memory-swap": r.memorySwapBytes = v == "-1" ? -1 : try parseBytes(v)
    case "--cpu": r.cpuMillis = try parseCPU(v)
    case "--cpu-period": r.cpuPeriodUs = try int()
    case "--cpu-quota": r.cpuQuotaUs = try int(true)
    case "--cpu-shares": r.cpuShares = try int()
    case "--cpuset-cpus": r.cpusetCpus = v
    case "--cpuset-mems": r.cpusetMems = v
    case "--pids": r.pidsMax = v == "max" ? -1 : try int(true)
    case "--hugepage":
      let kv = v.split(separator: "=", maxSplits: 1).map(String.init)
      guard kv.count == 2, AppResources.isPageSize(kv[0]) else {
        throw LiftoffError.invalidArgument("--hugepage \(v): expected SIZE=LIMIT, e.g. 2MB=64M")
      }
      let limit = kv[1] == "0" ? 0 : try parseBytes(kv[1])
      r.hugepageLimits.removeAll { $0.pageSize == kv[0] }
      r.hugepageLimits.append(.init(pageSize: kv[0], limitBytes: limit))
    case "--unified":
      let kv = v.split(separator: "=", maxSplits: 1).map(String.init)
      guard kv.count == 2, AppResources.unifiedKeyProblem(kv[0]) == nil else {
        throw LiftoffError.invalidArgument("--unified \(v): expected FILE=VALUE with a cgroup v2 file like memory.high")
      }
      r.unified[kv[0]] = kv[1]
    default: throw LiftoffError.invalidArgument("unknown resource flag \(flag)")
    }
  }

  /// Splits the arguments into app sections and parses each one.
  static func parse(_ args: [String], resolver: any ImageResolving, interactive: Bool) throws -> [AppOptions] {
    var sections: [[String]] = [[]]
    for a in args {
      if a == "---" { sections.append([]) } else { sections[sections.count - 1].append(a) }
    }
    var apps: [AppOptions] = []
    for s in sections where !s.isEmpty { apps.append(try parseApp(s, resolver: resolver, interactive: interactive)) }
    guard !apps.isEmpty else { throw LiftoffError.invalidArgument("no image given") }
    return apps
  }

  static func parseApp(_ section: [String], resolver: any ImageResolving, interactive: Bool) throws -> AppOptions {
    var args = section[...]
    guard let image = args.popFirst(), !image.hasPrefix("-") else {
      throw LiftoffError.invalidArgument("expected an IMAGE before \(section.first ?? "")")
    }
    var o = AppOptions(image: try resolver.resolve(image), imageName: image)
    o.interactive = interactive
    func value(_ flag: String, _ inline: String?) throws -> String {
      if let inline { return inline }
      guard let v = args.popFirst() else { throw LiftoffError.invalidArgument("\(flag) needs a value") }
      return v
    }
    while let a = args.popFirst() {
      if a == "--" {
        o.args = Array(args)
        break
      }
      guard a.hasPrefix("--") else { throw LiftoffError.invalidArgument("unexpected argument \(a) for image \(image)") }
      let parts = a.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
      let flag = parts[0]
      let inline = parts.count > 1 ? parts[1] : nil
      switch flag {
      case "--name": o.name = try value(flag, inline)
      case "--exec": o.exec = try value(flag, inline)
      case "--set-env": o.env.append(try value(flag, inline))
      case "--set-env-file": o.env += try readEnvironmentFile(try value(flag, inline))
      case "--user": o.user = try value(flag, inline)
      case "--group": o.group = try value(flag, inline)
      case "--working-dir": o.workingDir = try value(flag, inline)
      case "--volume": o.mounts.append(try parseVolume(try value(flag, inline)))
      case "--mount": o.mounts.append(try parseMount(try value(flag, inline), resolver: resolver))
      case "--readonly-rootfs": o.readOnlyRootfs = inline.map { $0 != "false" } ?? true
      case "--caps-retain": o.capsRetain = try value(flag, inline).split(separator: ",").map(String.init)
      case "--caps-remove": o.capsRemove += try value(flag, inline).split(separator: ",").map(String.init)
      case "--caps-ambient": o.capsAmbient += try value(flag, inline).split(separator: ",").map(String.init)
      case "--seccomp": o.seccomp = try parseSeccomp(try value(flag, inline))
      case _ where resourceFlags.contains(flag): try parseResource(flag, try value(flag, inline), into: &o.resources)
      case "--oom-score-adj":
        let v = try value(flag, inline)
        guard let n = Int(v), n >= -1000, n <= 1000 else { throw LiftoffError.invalidArgument("--oom-score-adj \(v): expected -1000…1000") }
        o.oomScoreAdj = n
      case "--rlimit": o.rlimits.append(try parseRlimit(try value(flag, inline)))
      case "--no-new-privileges":
        let v = inline ?? "true"
        guard let b = Bool(v) else { throw LiftoffError.invalidArgument("--no-new-privileges=\(v): expected true or false") }
        o.noNewPrivileges = b
      case "--privileged": o.privileged = try parseBool(flag, inline)
      case "--masked-paths", "--readonly-paths":
        let list = try value(flag, inline).split(separator: ",").map(String.init)
        if flag == "--masked-paths" { o.maskedPaths = list } else { o.readonlyPaths = list }
      case "--sysctl":
        let v = try value(flag, inline)
        let kv = v.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard kv.count == 2, !kv[0].isEmpty else { throw LiftoffError.invalidArgument("--sysctl \(v): expected KEY=VALUE") }
        o.sysctls[kv[0]] = kv[1]
      case "--device": o.devices.append(try PodPreparer.deviceRequest(try value(flag, inline), app: o.name ?? image))
      case "--hook": o.hooks.append(try AppHook(flag: try value(flag, inline)))
      case "--supplementary-groups":
        let v = try value(flag, inline)
        for g in v.split(separator: ",") {
          guard let n = UInt32(g) else { throw LiftoffError.invalidArgument("--supplementary-groups \(v): expected numeric group ids") }
          o.supplementaryGroups.append(n)
        }
      case "--supplementary-groups-policy":
        let v = try value(flag, inline)
        guard v == "merge" || v == "strict" else {
          throw LiftoffError.invalidArgument("--supplementary-groups-policy \(v): expected merge or strict")
        }
        o.supplementaryGroupsStrict = v == "strict"
      case "--pid-namespace":
        let v = try value(flag, inline)
        if v.hasPrefix("target:") {
          let target = String(v.dropFirst("target:".count))
          guard PodPreparer.isValidName(target) else { throw LiftoffError.invalidArgument("--pid-namespace \(v): invalid app name \(target)") }
          o.pidNamespace = .target
          o.pidTarget = target
        } else {
          guard let ns = AppSecurity.PIDNamespace(rawValue: v), ns != .target else {
            throw LiftoffError.invalidArgument("--pid-namespace \(v): expected container, host, pod or target:APP")
          }
          o.pidNamespace = ns
        }
      case "--stop-signal":
        let v = try value(flag, inline)
        guard ProcessControl.signalNumber(v) != nil else { throw LiftoffError.invalidArgument("--stop-signal \(v): unknown signal") }
        o.stopSignal = v
      case "--annotation", "--label":
        let v = try value(flag, inline)
        let kv = v.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard kv.count == 2, !kv[0].isEmpty else { throw LiftoffError.invalidArgument("\(flag) \(v): expected KEY=VALUE") }
        if flag == "--label" { o.labels[kv[0]] = kv[1] } else { o.annotations[kv[0]] = kv[1] }
      default: throw LiftoffError.invalidArgument("unknown app flag \(flag) for image \(image)\n\(help)")
      }
    }
    return o
  }

  /// `--flag` or `--flag=true|false`.
  static func parseBool(_ flag: String, _ inline: String?) throws -> Bool {
    guard let v = inline else { return true }
    guard let b = Bool(v) else { throw LiftoffError.invalidArgument("\(flag)=\(v): expected true or false") }
    return b
  }

  /// `runtime/default`, `unconfined`, `localhost=/path` or `localhost//path` → the manifest's form.
  static func parseSeccomp(_ s: String) throws -> String {
    if s.hasPrefix("localhost=") { return "localhost/" + s.dropFirst("localhost=".count) }
    return s
  }

  /// `HOST:CTR[:ro|rro|rw][:PROPAGATION][:nosuid|nodev|noexec]`; `rro` is read-only recursively (submounts too).
  static func parseVolume(_ s: String) throws -> AppMount {
    let f = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard f.count >= 2, !f[0].isEmpty, !f[1].isEmpty else {
      throw LiftoffError.invalidArgument("--volume \(s): expected HOST:CONTAINER[:ro][:PROPAGATION]")
    }
    var m = AppMount(destination: f[1], source: f[0])
    for opt in f.dropFirst(2) {
      if opt == "ro" {
        m.readOnly = true
      } else if opt == "rro" {
        m.readOnly = true
        m.recursiveReadOnly = true
      } else if opt == "rw" {
        m.readOnly = false
        m.recursiveReadOnly = false
      } else if let p = AppMount.Propagation(rawValue: opt) {
        m.propagation = p
      } else if AppMount.knownFlags.contains(opt) {
        if !m.flags.contains(opt) { m.flags.append(opt) }
      } else if opt.hasPrefix("uidmap=") || opt.hasPrefix("gidmap=") {
        let list = try opt.dropFirst(7).split(separator: ",").map { try IDMapping.parse(String($0), separator: "-", flag: "--volume \(s)") }
        let field = "--volume \(s) \(opt.prefix(6))"
        guard !list.isEmpty else { throw LiftoffError.invalidArgument("\(field): no mapping") }
        try IDMapping.validate(list, field: field)
        if opt.hasPrefix("uidmap=") { m.uidMappings = list } else { m.gidMappings = list }
      } else {
        throw LiftoffError.invalidArgument("--volume \(s): unknown option \(opt)")
      }
    }
    if let problem = m.problem { throw LiftoffError.invalidArgument("--volume \(s): \(problem)") }
    try m.validateIDMapping(in: "--volume \(s)")
    return m
  }

  /// `tmpfs:CTR[:SIZE]`, or `image=IMAGE,target=CTR[,name=NAME][,subpath=DIR]`: an image volume, the
  /// image resolved as an app's image (in the store only, held to the trust policy; `name` is recorded
  /// as the name it was asked by, IMAGE's otherwise); `subpath` comes last and takes the rest of the
  /// value (a directory name may hold ',').
  static func parseMount(_ s: String, resolver: any ImageResolving) throws -> AppMount {
    if s.hasPrefix("image=") { return try parseImageMount(s, resolver: resolver) }
    let f = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard f.count >= 2, f[0] == "tmpfs" else { throw LiftoffError.invalidArgument("--mount \(s): expected tmpfs:CONTAINER[:SIZE]") }
    let size = f.count > 2 ? ",size=\(f[2])" : ""
    return AppMount(destination: f[1], type: "tmpfs", source: "tmpfs", data: "mode=1777\(size)")
  }

  static func parseImageMount(_ s: String, resolver: any ImageResolving) throws -> AppMount {
    var rest = Substring(s)
    var fields: [String: String] = [:]
    while !rest.isEmpty {
      if rest.hasPrefix("subpath=") {
        fields["subpath"] = String(rest.dropFirst("subpath=".count))
        break
      }
      let item = rest.prefix { $0 != "," }
      rest = rest.dropFirst(item.count + 1)
      let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
      guard kv.count == 2, ["image", "target", "name"].contains(kv[0]), fields[kv[0]] == nil else {
        throw LiftoffError.invalidArgument("--mount \(s): expected image=IMAGE,target=CONTAINER[,name=NAME][,subpath=DIR], not \"\(item)\"")
      }
      fields[kv[0]] = kv[1]
    }
    guard let name = fields["image"], !name.isEmpty, let target = fields["target"], !target.isEmpty else {
      throw LiftoffError.invalidArgument("--mount \(s): expected image=IMAGE,target=CONTAINER[,subpath=DIR]")
    }
    let image = try resolver.resolve(name)
    var m = AppMount(destination: target, type: "image", source: image.id, readOnly: true)
    m.image = AppImage(name: fields["name"] ?? name, id: image.id, layerDirs: image.layerDirs)
    if let sub = fields["subpath"], !sub.isEmpty, sub != "." { m.subPath = sub }
    if let problem = m.problem { throw LiftoffError.invalidArgument("--mount \(s): \(problem)") }
    return m
  }

  static func parseBytes(_ s: String) throws -> Int64 {
    let units: [(String, Int64)] = [
      ("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("k", 1 << 10),
      ("m", 1 << 20), ("g", 1 << 30), ("B", 1), ("", 1),
    ]
    for (u, mult) in units where s.hasSuffix(u) {
      if let v = Int64(s.dropLast(u.count)), v > 0 { return v * mult }
    }
    throw LiftoffError.invalidArgument("memory size \(s): expected a number with K, M or G")
  }

  static func parseCPU(_ s: String) throws -> Int64 {
    if s.hasSuffix("m"), let v = Int64(s.dropLast()), v > 0 { return v }
    if let d = Double(s), d > 0 { return Int64(d * 1000) }
    throw LiftoffError.invalidArgument("cpu \(s): expected millicores (500m) or CPUs (1.5)")
  }

  static func parseRlimit(_ s: String) throws -> AppRlimit {
    let kv = s.split(separator: "=", maxSplits: 1).map(String.init)
    let lim = kv.count == 2 ? kv[1].split(separator: ":").map(String.init) : []
    var name = kv[0].uppercased()
    if !name.hasPrefix("RLIMIT_") { name = "RLIMIT_" + name }
    guard ProcessControl.rlimitNames[name] != nil, lim.count == 2, let soft = UInt64(lim[0]), let hard = UInt64(lim[1]),
      soft <= hard
    else { throw LiftoffError.invalidArgument("--rlimit \(s): expected NAME=soft:hard with soft ≤ hard") }
    return AppRlimit(type: name, soft: soft, hard: hard)
  }
}
