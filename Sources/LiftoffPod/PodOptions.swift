// What `liftoff prepare`/`run` (and later `app add`) are asked for, before resolution into a
// PodManifest: images are resolved, names and users looked up, defaults filled in.
import LiftoffCore
import LiftoffNet

public struct PodOptions: Sendable {
  public var flavor: PodManifest.Flavor = .default
  public var hostname: String?
  public var network: PodNetwork.Mode = .none
  /// The CNI request of a `.netns` (CNI) pod.
  public var networkPlan: PodNetworkPlan?
  /// A `.host` network pod's resolv.conf (`--dns…`): nil or empty for the host's own file.
  public var hostNetworkDNS: DNSConfig?
  public var stopTimeoutSeconds = 10
  /// `app sandbox --ipc-namespace host`: the apps share the host's IPC namespace.
  public var hostIPC = false
  /// `app sandbox --pid-namespace pod`: one PID namespace for all the pod's apps.
  public var sharedPID = false
  /// `app sandbox --cgroup-parent PATH`: the pod's group goes under this one instead of `liftoff`.
  public var cgroupParent: String?
  /// `app sandbox --cgroup-driver systemd`: `cgroupParent` is a slice name, and the pod is the
  /// transient scope unit `liftoff-<id>.scope` in it (made by stage1 over D-Bus, Delegate=yes).
  public var systemdCgroups = false
  /// `--userns-uid-map`/`--userns-gid-map C:H:L`: the apps run in a user namespace with these mappings.
  public var userNamespace: UserNamespaceMappings?
  /// `liftoff run` under a `Type=notify` unit: systemd's $NOTIFY_SOCKET, which stage1 relays the apps'
  /// notifications to (PodManifest.notifySocket).
  public var notifySocket: String?
  public var annotations: [String: String] = [:]
  public var labels: [String: String] = [:]
  public var mutable = false
  public var apps: [AppOptions] = []
  public init() {}
}

public struct AppOptions: Sendable, Equatable {
  public var image: ResolvedImage
  /// The name the image was asked for (shown in status).
  public var imageName: String
  public var name: String?
  /// Replaces the image's entrypoint (`--exec`); `args` then follow it.
  public var exec: String?
  /// Replaces the image's cmd (arguments after `--`); nil keeps the image's.
  public var args: [String]?
  /// `KEY=value` added over the image's environment (`--set-env`).
  public var env: [String] = []
  public var user: String?
  public var group: String?
  public var workingDir: String?
  public var mounts: [AppMount] = []
  public var readOnlyRootfs = false
  /// Exactly these capabilities (`--caps-retain`), instead of the default set.
  public var capsRetain: [String]?
  /// Ambient capabilities (`--caps-ambient`): added to the set and raised in the ambient set.
  public var capsAmbient: [String] = []
  /// Removed from the set (`--caps-remove`).
  public var capsRemove: [String] = []
  /// `runtime/default`, `unconfined` or `localhost/<absolute path of a profile>`.
  public var seccomp = "runtime/default"
  public var resources = AppResources()
  public var rlimits: [AppRlimit] = []
  public var oomScoreAdj: Int?
  public var interactive = false
  public var noNewPrivileges = true
  /// The signal that stops the app (`--stop-signal`), over the image's `StopSignal`.
  public var stopSignal: String?
  /// CRI log file for the app's stdout/stderr (mutable pods).
  public var logPath: String?
  /// The app's own annotations and labels (`--annotation`, `--label`).
  public var annotations: [String: String] = [:]
  public var labels: [String: String] = [:]
  /// `--privileged`: all capabilities, host devices, no seccomp, no masked paths, rw /sys.
  public var privileged = false
  /// `--masked-paths P1,P2` / `--readonly-paths P1,P2`: exactly these instead of the defaults
  /// (DefaultPaths); an empty list means none.
  public var maskedPaths: [String]?
  public var readonlyPaths: [String]?
  /// `--sysctl K=V` (namespaced ones only).
  public var sysctls: [String: String] = [:]
  /// `--device HOST[:CONTAINER[:rwm]]` or `--device path=…` (described in full).
  public var devices: [AppDeviceRequest] = []
  /// `--supplementary-groups G1,G2` and `--supplementary-groups-policy merge|strict`.
  public var supplementaryGroups: [UInt32] = []
  public var supplementaryGroupsStrict = false
  /// `--pid-namespace container|host|pod|target:APP`; nil: the pod's shared one if it has one, else
  /// the app's own.
  public var pidNamespace: AppSecurity.PIDNamespace?
  /// With `.target`: the app of the same pod whose PID namespace this app joins.
  public var pidTarget: String?
  /// A pty held by stage1 (`app add --tty`), stdin kept open (`--stdin`), closed after the first
  /// attached writer (`--stdin-once`).
  public var tty = false
  public var stdin = false
  public var stdinOnce = false
  /// Socket activation: descriptors 3… passed to this app (see AppManifest.listenFDs).
  public var listenFDs = 0
  public var listenFDNames: String?
  /// OCI lifecycle hooks (`--hook STAGE=JSON`; liftoff-cri: a CDI device's hooks), run by stage1.
  public var hooks: [AppHook] = []

  public init(image: ResolvedImage, imageName: String) {
    self.image = image
    self.imageName = imageName
  }
}

/// containerd's default masked and read-only paths.
public enum DefaultPaths {
  public static let masked = [
    "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
  ]
  public static let readonly = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
}
