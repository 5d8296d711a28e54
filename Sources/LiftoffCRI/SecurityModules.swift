// AppArmor and SELinux: Liftoff applies neither, so a request for a profile or a label — on a
// sandbox or a container — fails naming the field, rather than being ignored. Nothing asked
// (no options, AppArmor RuntimeDefault or Unconfined) is fine: there is nothing to apply.
// Status reports whether the host has either (`info.runtime.security`).
import Foundation
import LiftoffCore

enum SecurityModules {
  static var hostHasAppArmor: Bool { FileManager.default.fileExists(atPath: "/sys/kernel/security/apparmor") }
  static var hostHasSELinux: Bool { FileManager.default.fileExists(atPath: "/sys/fs/selinux/enforce") }

  static func refuseProfiles(
    selinux: Runtime_V1_SELinuxOption?, apparmor: Runtime_V1_SecurityProfile?, apparmorProfile: String, field: String
  ) throws {
    if let selinux, selinux != Runtime_V1_SELinuxOption() {
      throw LiftoffError.invalidArgument(
        "\(field).selinux_options: \(hostHasSELinux ? "SELinux labels are not supported by liftoff" : "this host has no SELinux")")
    }
    // The deprecated string form: `localhost/<name>` asks for a profile; `runtime/default` and
    // `unconfined` do not.
    let asked = apparmor?.profileType == .localhost || apparmorProfile.hasPrefix("localhost/")
    if asked {
      throw LiftoffError.invalidArgument(
        "\(field).apparmor: \(hostHasAppArmor ? "AppArmor profiles are not supported by liftoff" : "this host has no AppArmor")")
    }
  }
}
