import Glibc
import LiftoffCore
import LiftoffOS
import Testing

/// Localhost (OCI-format) seccomp profiles compiled with libseccomp; errors name the file and field.
@Suite struct SeccompProfileTests {
  func compile(_ text: String, caps: [String] = Capabilities.defaultSet) throws -> [UInt8] {
    let dir = try makeTempDir("scprof")
    defer { try? FileSystem.removeTree(dir) }
    try FileSystem.writeAtomically("\(dir)/p.json", text)
    let fd = open("\(dir)/p.bpf", O_WRONLY | O_CREAT, 0o644)
    defer { close(fd) }
    try Seccomp.compileProfile(path: "\(dir)/p.json", capabilities: caps, to: fd)
    return try FileSystem.readBytes("\(dir)/p.bpf")
  }

  func failure(_ text: String) -> String {
    do {
      _ = try compile(text)
      return ""
    } catch { return "\(error)" }
  }

  @Test func compilesOCIAndDockerForms() throws {
    let oci = try compile(
      #"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13},{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},{"names":["no_such_syscall"],"action":"SCMP_ACT_KILL"}]}"#)
    #expect(oci.count % 8 == 0 && oci.count > 0)
    let docker = try compile(
      #"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],"syscalls":[{"name":"read","action":"SCMP_ACT_ALLOW"},{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},{"names":["write"],"action":"SCMP_ACT_LOG","excludes":{"arches":["s390x"]}}]}"#)
    #expect(docker.count % 8 == 0 && docker.count > 0)
  }

  @Test func errorsNameTheFileAndTheField() throws {
    #expect(failure("{").contains("not valid JSON"))
    #expect(failure(#"{"syscalls":[]}"#).contains("defaultAction is missing"))
    #expect(failure(#"{"defaultAction":"SCMP_ACT_MAYBE"}"#).contains("defaultAction SCMP_ACT_MAYBE is not a seccomp action"))
    #expect(failure(#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_PDP11"]}"#).contains("unknown architecture SCMP_ARCH_PDP11"))
    #expect(failure(#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":9,"op":"SCMP_CMP_EQ"}]}]}"#).contains("syscalls[0].args[0]: index must be 0…5"))
    #expect(failure(#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"op":"SCMP_CMP_ABOUT"}]}]}"#).contains("unknown op SCMP_CMP_ABOUT"))
    #expect(failure(#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}"#).contains("SCMP_ACT_NOTIFY"))
    #expect(failure(#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG"]}"#).contains("flags are not supported"))
    let missing = "/tmp/liftoff-no-such-profile-\(Random.hex(bytes: 4)).json"
    #expect(throws: LiftoffError.self) { try Seccomp.compileProfile(path: missing, capabilities: [], to: -1) }
    do {
      try Seccomp.compileProfile(path: missing, capabilities: [], to: -1)
    } catch {
      #expect(error.code == .notFound && "\(error)".contains(missing))
    }
    // Every message names the profile's path.
    #expect(failure(#"{"defaultAction":"X"}"#).contains("seccomp profile /tmp/liftoff-ostest-scprof-"))
  }
}
