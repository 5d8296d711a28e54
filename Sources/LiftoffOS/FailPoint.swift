// Crash injection at named moments of the write paths (issues 17 and 20). With
// `LIFTOFF_FAILPOINT=<name>` (or `<name>@N`: the Nth time the point is reached) in a Liftoff process's
// environment, that process sends itself SIGKILL when it reaches the point, so a test sees exactly
// what a crash there leaves behind — the same moment on a fast machine and a slow one, unlike a kill
// after a delay. Nothing else triggers a point: the value must be one of the names below exactly (an
// unknown name, a prefix or `@0` arms nothing). The variable is read once per process; unset, a
// point costs a load and a compare.
//
// Which process honours it: every `liftoff`, `liftoff-image` and `liftoff-stage1` that has it in its
// environment — stage1 inherits stage0's environment (exec for `run`, spawn for `app sandbox`), so
// a stage1 point is armed from the stage0 command that started the pod. Apps never see the variable:
// their environment is the pod manifest's alone (AppLauncher execs with `app.env`), as are hooks'.
// liftoff-cri passes its environment to the `liftoff` it runs and pulls in-process: set it there
// only for a test that means to kill those.
//
// Just before the kill, the point's name is written to stderr (`liftoff: fail-point NAME: SIGKILL`),
// so a test can tell its own crash from any other.
import Glibc
import Synchronization

public enum FailPoint: String, CaseIterable, Sendable {
  // MARK: stage0: making a pod (`run`, `prepare`, `app sandbox`; PodPreparer, PodManager, AppManager)

  /// The pod's directory exists (moved from embryo/ to prepare/, locked), nothing written in it yet.
  case podDirCreated = "stage0.pod-dir-created"
  /// Its app directories and `pod.json` are written; the pod is still in prepare/, not yet moved to
  /// prepared/ or run/.
  case podManifestWritten = "stage0.pod-manifest-written"
  /// CNI ADD succeeded (the pod has its addresses, veths and port mappings); stage0 has not recorded
  /// anything else nor started stage1 (`run`) or told the waiting stage1 to go on (`app sandbox`).
  case networkAttached = "stage0.network-attached"
  /// Right before stage1 starts: the execv of `run` (the pod is in run/, its network up) and the
  /// spawn of `app sandbox`'s detached stage1 (before the network).
  case beforeStage1 = "stage0.before-stage1"

  // MARK: stage1 (liftoff-stage1, armed through stage0's environment)

  /// An app's overlay rootfs is mounted under `apps/<name>/rootfs/merged`; its cgroup is not made
  /// and nothing is forked yet (`run`'s apps at start, an `app start` of a mutable pod).
  case appRootfsMounted = "stage1.app-rootfs-mounted"

  // MARK: stage0: apps of a mutable pod (AppManager)

  /// `app add`: the app's directory (rootfs dirs, seccomp program, state) is made; `pod.json` does not
  /// list the app yet.
  case appAddDirMade = "app-add.dir-made"
  /// `app rm`: stage1 has let go of the app (stopped, rootfs unmounted, cgroup removed; nothing to do
  /// when the pod is not running); `pod.json` still lists it and its directory is there.
  case appRemoveReleased = "app-rm.released"
  /// `app rm`: the app's directory is moved into the pod's `removed/` (the removal's commit point) and
  /// not deleted yet; `pod.json` still lists the app, which every reader leaves out
  /// (PodManifest.withoutRemovedApps).
  case appRemoveMoved = "app-rm.moved"

  // MARK: stage0: tearing a pod down (`rm`, `gc`, `stop`; PodManager)

  /// `rm`/`gc`: everything under the pod's directory is unmounted and its processes killed; its
  /// network is not released yet and its directory is still there.
  case teardownUnmounted = "teardown.unmounted"
  /// `stop`/`rm`/`gc`: CNI DEL succeeded; the release is not recorded and the directory not removed.
  case networkReleased = "teardown.network-released"

  // MARK: image store (`liftoff fetch` in liftoff-image, PullImage in liftoff-cri; LiftoffImage)

  /// A layer's unpack into tmp/ is about to write a tar entry (`@N`: the Nth entry this process
  /// unpacks, over every layer), the ones before it written; the layer's blob is not committed.
  case imageUnpackEntry = "image.unpack-entry"
  /// A layer's blob is verified and renamed into blobs/; its unpacked tree is not yet in layers/.
  case imageBlobCommitted = "image.blob-committed"
  /// Every layer is in; the image record (refs/ids) is written, no name record points at it yet.
  case imageRecordWritten = "image.record-written"

  /// The environment variable that arms a point.
  public static let environmentVariable = "LIFTOFF_FAILPOINT"

  /// The point armed in this process, read once; nil: none (the usual case).
  static let armed: Armed? = getenv(environmentVariable).flatMap { Armed(String(cString: $0)) }

  /// Kills this process with SIGKILL if `point` is the armed one and this is the hit it names.
  @inline(__always)
  public static func hit(_ point: FailPoint) {
    guard let armed else { return }
    armed.hit(point)
  }

  /// `NAME` or `NAME@N` (N ≥ 1) as the point and the hit that fires it; nil for anything else.
  public static func parse(_ value: String) -> (point: FailPoint, nth: Int)? {
    let parts = value.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
    guard let point = FailPoint(rawValue: String(parts[0])) else { return nil }
    guard parts.count == 2 else { return (point, 1) }
    guard parts[1].allSatisfy({ $0 >= "0" && $0 <= "9" }), let n = Int(parts[1]), n >= 1 else { return nil }
    return (point, n)
  }

  final class Armed: Sendable {
    let point: FailPoint
    let nth: Int
    let hits = Atomic<Int>(0)

    init?(_ value: String) {
      guard let (point, nth) = FailPoint.parse(value) else { return nil }
      self.point = point
      self.nth = nth
    }

    func hit(_ p: FailPoint) {
      guard p == point else { return }
      let n = hits.wrappingAdd(1, ordering: .relaxed).newValue
      guard n == nth else { return }
      let line = Array("liftoff: fail-point \(p.rawValue)\(nth > 1 ? "@\(nth)" : ""): SIGKILL\n".utf8)
      _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
      kill(getpid(), SIGKILL)
      while true { pause() }
    }
  }
}
