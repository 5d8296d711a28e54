// Localhost seccomp profiles: an OCI runtime-spec `linux.seccomp` document (runtime-spec v1.2
// config-linux.md "Seccomp") in a JSON file on the node, compiled by stage0 with libseccomp like the
// RuntimeDefault profile. Docker's profile format (a superset: `name` for one syscall,
// `includes`/`excludes` by capability or architecture, `archMap`) is accepted too, as kubelet's
// examples use it.
//
//   {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
//    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
//                  "args": [{"index": 0, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}]}
//
// Refused with an error naming the file and the field: unknown actions, operators and architectures,
// `flags`, `listenerPath` and SCMP_ACT_NOTIFY (they need a seccomp agent / the seccomp(2) flags path,
// which Liftoff does not have). Syscall names this libseccomp does not know are skipped, as runc does.
import CSeccomp
import Glibc
import LiftoffCore

extension Seccomp {
  /// Compiles the profile in `path` for an app holding `capabilities` and writes BPF to `fd`.
  public static func compileProfile(path: String, capabilities: [String], to fd: Int32) throws(LiftoffError) {
    let text: String
    do { text = try FileSystem.readString(path) } catch {
      throw LiftoffError(error.errno == ENOENT ? .notFound : .invalidArgument, "seccomp profile \(path): cannot read it", cause: error)
    }
    let json: JSON
    do { json = try JSON.parse(text) } catch {
      throw .invalidArgument("seccomp profile \(path): not valid JSON: \(error.message)")
    }
    try compileProfile(json, name: path, capabilities: capabilities, to: fd)
  }

  static func compileProfile(_ j: JSON, name: String, capabilities: [String], to fd: Int32) throws(LiftoffError) {
    let ctx = "seccomp profile \(name)"
    guard j.objectValue != nil else { throw .invalidArgument("\(ctx): not a JSON object") }
    if let l = try j.optString("listenerPath", in: ctx), !l.isEmpty {
      throw .invalidArgument("\(ctx): listenerPath (a seccomp agent) is not supported")
    }
    if !(try j.objects("flags", in: ctx)).isEmpty {
      throw .invalidArgument("\(ctx): flags are not supported (Liftoff loads the filter with prctl)")
    }
    let defaultErrno = Int32(try j.optInt64("defaultErrnoRet", in: ctx) ?? Int64(EPERM))
    let defaultAction = try action(try j.optString("defaultAction", in: ctx) ?? "", errno: defaultErrno, field: "defaultAction", ctx)
    guard let filter = seccomp_init(defaultAction) else { throw .internal("\(ctx): seccomp_init failed") }
    defer { seccomp_release(filter) }
    // Without this, libseccomp would set no_new_privs itself; stage1 sets it as the app asks.
    _ = seccomp_attr_set(filter, SCMP_FLTATR_CTL_NNP, 0)

    var arches = try j.objects("architectures", in: ctx).map { $0.stringValue ?? "" }
    for m in try j.objects("archMap", in: ctx) {
      arches.append(try m.string("architecture", in: "\(ctx) archMap"))
      arches += try m.strings("subArchitectures", in: "\(ctx) archMap")
    }
    for a in arches {
      guard a.hasPrefix("SCMP_ARCH_") else { throw .invalidArgument("\(ctx): unknown architecture \(a)") }
      let token = seccomp_arch_resolve_name(String(a.dropFirst(10)).lowercased())
      guard token != 0 else { throw .invalidArgument("\(ctx): unknown architecture \(a)") }
      let rc = seccomp_arch_add(filter, token)
      guard rc == 0 || rc == -EEXIST else { throw .invalidArgument("\(ctx): architecture \(a): \(errnoDescription(-rc))") }
    }

    let caps = Set(capabilities.compactMap { Capabilities.normalize($0) })
    let native = seccomp_arch_native()
    for (i, rule) in try j.objects("syscalls", in: ctx).enumerated() {
      let rctx = "\(ctx): syscalls[\(i)]"
      var names = try rule.strings("names", in: rctx)
      if let one = try rule.optString("name", in: rctx) { names.append(one) }
      guard !names.isEmpty else { throw .invalidArgument("\(rctx): no names") }
      // Docker's conditions: a rule applies only with (includes) or without (excludes) these.
      if let inc = rule["includes"] {
        let need = try inc.strings("caps", in: "\(rctx).includes").compactMap { Capabilities.normalize($0) }
        if !need.allSatisfy({ caps.contains($0) }) { continue }
        let onArches = try inc.strings("arches", in: "\(rctx).includes")
        if !onArches.isEmpty && !onArches.contains(where: { archToken($0) == native }) { continue }
      }
      if let exc = rule["excludes"] {
        let not = try exc.strings("caps", in: "\(rctx).excludes").compactMap { Capabilities.normalize($0) }
        if not.contains(where: { caps.contains($0) }) { continue }
        let notArches = try exc.strings("arches", in: "\(rctx).excludes")
        if notArches.contains(where: { archToken($0) == native }) { continue }
      }
      let errnoRet = Int32(try rule.optInt64("errnoRet", in: rctx) ?? Int64(EPERM))
      let act = try action(try rule.string("action", in: rctx), errno: errnoRet, field: "action", rctx)
      var conditions: [scmp_arg_cmp] = []
      for (k, a) in try rule.objects("args", in: rctx).enumerated() {
        let actx = "\(rctx).args[\(k)]"
        guard let index = try a.optInt64("index", in: actx), index >= 0, index < 6 else {
          throw .invalidArgument("\(actx): index must be 0…5")
        }
        let op = try a.string("op", in: actx)
        guard let cmp = compareOps[op] else { throw .invalidArgument("\(actx): unknown op \(op)") }
        conditions.append(
          scmp_arg_cmp(
            arg: UInt32(index), op: cmp, datum_a: try unsigned(a, "value", actx), datum_b: try unsigned(a, "valueTwo", actx)))
      }
      for syscall in names {
        let nr = seccomp_syscall_resolve_name(syscall)
        if nr == __NR_SCMP_ERROR { continue }
        // A rule with the default action is redundant and libseccomp refuses it.
        if act == defaultAction { continue }
        let rc = conditions.withUnsafeBufferPointer {
          seccomp_rule_add_array(filter, act, nr, UInt32($0.count), $0.baseAddress)
        }
        if rc != 0 && rc != -EEXIST && rc != -EDOM && rc != -EACCES {
          throw .invalidArgument("\(rctx): rule for \(syscall): \(errnoDescription(-rc))")
        }
      }
    }
    let rc = seccomp_export_bpf(filter, fd)
    guard rc == 0 else { throw .internal("\(ctx): seccomp_export_bpf: \(errnoDescription(-rc))") }
  }

  /// libseccomp's token for an architecture as Docker profiles name them (Go's names or the kernel's).
  static func archToken(_ name: String) -> UInt32 {
    let aliases = ["amd64": "x86_64", "arm64": "aarch64", "386": "x86", "ppc64le": "ppc64le", "s390x": "s390x"]
    return seccomp_arch_resolve_name(aliases[name] ?? name)
  }

  static let compareOps: [String: scmp_compare] = [
    "SCMP_CMP_NE": SCMP_CMP_NE, "SCMP_CMP_LT": SCMP_CMP_LT, "SCMP_CMP_LE": SCMP_CMP_LE, "SCMP_CMP_EQ": SCMP_CMP_EQ,
    "SCMP_CMP_GE": SCMP_CMP_GE, "SCMP_CMP_GT": SCMP_CMP_GT, "SCMP_CMP_MASKED_EQ": SCMP_CMP_MASKED_EQ,
  ]

  static func unsigned(_ j: JSON, _ key: String, _ ctx: String) throws(LiftoffError) -> UInt64 {
    guard let v = j[key], !v.isNull else { return 0 }
    guard let u = v.uint64Value else { throw .invalidArgument("\(ctx): \(key) must be an unsigned integer") }
    return u
  }

  static func action(_ name: String, errno e: Int32, field: String, _ ctx: String) throws(LiftoffError) -> UInt32 {
    switch name {
    case "SCMP_ACT_ALLOW": return actAllow
    case "SCMP_ACT_ERRNO": return actErrno(e)
    case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return 0
    case "SCMP_ACT_KILL_PROCESS": return 0x8000_0000
    case "SCMP_ACT_TRAP": return 0x0003_0000
    case "SCMP_ACT_TRACE": return 0x7ff0_0000 | (UInt32(e) & 0xffff)
    case "SCMP_ACT_LOG": return 0x7ffc_0000
    case "SCMP_ACT_NOTIFY": throw .invalidArgument("\(ctx): \(field) SCMP_ACT_NOTIFY (a seccomp agent) is not supported")
    case "": throw .invalidArgument("\(ctx): \(field) is missing")
    default: throw .invalidArgument("\(ctx): \(field) \(name) is not a seccomp action")
    }
  }
}
