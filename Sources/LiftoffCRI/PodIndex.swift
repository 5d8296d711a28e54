// The CRI sandboxes and containers in memory, so that kubelet's reads — PLEG relists every second,
// a status per container — are answered without walking the pods on disk (issue 20: with 20 pods a
// ListContainers was ~2.3 ms of file reads, a ContainerStatus scanned every pod to find one).
//
// Disk stays the truth; the index is a copy of it that is never trusted across a change it did not
// see:
//   - built from disk when liftoff-cri starts (a restart loses nothing);
//   - a pod is read again from disk after every RPC that changes it (CRIRuntime.changingPod);
//   - stage1 sends the pod's ID to `<dir>/events.sock` (a datagram) each time it writes an app's state
//     and when it exits (Supervisor.notifyChanged): the pod is read again at once;
//   - each running pod's stage1 is watched through a pidfd, so a stage1 killed outright (no datagram)
//     is seen the moment it is gone;
//   - every 10 s everything is read again, for what no one announced (a `liftoff` command run by hand,
//     a pod left by a stage1 of an older release that sends no datagrams).
// One thread of its own polls the datagram socket, the pidfds and a wake-up pipe. Changes it sees
// become container events (ContainerEvents.swift) within milliseconds instead of the former 1 s poll.
import CLinux
import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import Logging
import Synchronization

final class PodIndex: Sendable {
  struct State: Sendable {
    var loaded = false
    /// Sandboxes by ID, and in creation order.
    var byID: [String: CRISandbox] = [:]
    var ordered: [CRISandbox] = []
    /// Container ID → its sandbox's ID.
    var containerSandbox: [String: String] = [:]
    /// Running sandboxes' stage1, watched for its exit: pod ID → (pid, pidfd).
    var watched: [String: (pid: Int32, fd: Int32)] = [:]
    /// A stage1 whose pidfd has fired (pod ID → its pid) is not watched again while the index still
    /// shows that pid: the pod looks running until whoever holds its lock lets go (StopPodSandbox's
    /// `liftoff` for the ~30 ms of its network teardown), and a pidfd that stays readable would have
    /// the watcher read the pod again and again all that time (a quarter of a core per lifecycle).
    var fired: [String: Int32] = [:]
    /// Reads of the disk are numbered when they begin; per pod, the number of the read its entry came
    /// from. A read never replaces what a read begun after it stored: the watcher's read of a pod that
    /// began before an RPC's write must not land after the RPC's own (later) read and undo it — seen
    /// under load as a container created and then not found by StartContainer (stress.py load).
    var nextRead = 0
    var readOf: [String: Int] = [:]
    /// Where the previous reload began: a gone pod's number older than that is forgotten (a read of
    /// one pod takes milliseconds; reloads are 10 s apart).
    var previousReload = 0
    /// Incremented by every change of the index (reindex): answers computed from the index at one
    /// generation hold for as long as it lasts (CRIServer's list cache).
    var generation: UInt64 = 0
  }

  private let state = Mutex(State())
  /// Reads one pod from disk: nil when it is gone or not a CRI sandbox.
  private let readOne: @Sendable (String) -> CRISandbox?
  /// Reads every CRI sandbox from disk.
  private let readAll: @Sendable () throws -> [CRISandbox]
  /// Called with the old and new view of a pod after a change (container events).
  private let changed: @Sendable (CRISandbox?, CRISandbox?) -> Void
  private let wake: (read: Int32, write: Int32)

  init(
    read: @escaping @Sendable (String) -> CRISandbox?, readAll: @escaping @Sendable () throws -> [CRISandbox],
    changed: @escaping @Sendable (CRISandbox?, CRISandbox?) -> Void
  ) {
    self.readOne = read
    self.readAll = readAll
    self.changed = changed
    let p = (try? ProcessControl.pipe()) ?? (read: -1, write: -1)
    for fd in [p.read, p.write] where fd >= 0 { _ = fcntl(fd, F_SETFL, O_NONBLOCK) }
    wake = p
  }

  // MARK: reads

  /// Every CRI sandbox, in creation order (loaded from disk on first use).
  func sandboxes() throws -> [CRISandbox] {
    try loadIfNeeded()
    return state.withLock { $0.ordered }
  }

  /// The sandbox that holds this container (full ID), if the index knows it.
  func sandbox(holding containerID: String) throws -> CRISandbox? {
    try loadIfNeeded()
    return state.withLock { s in s.containerSandbox[containerID].flatMap { s.byID[$0] } }
  }

  func sandbox(id: String) throws -> CRISandbox? {
    try loadIfNeeded()
    return state.withLock { $0.byID[id] }
  }

  /// The index's generation now (loaded from disk on first use): it changes whenever what the index
  /// holds may have.
  func generation() throws -> UInt64 {
    try loadIfNeeded()
    return state.withLock { $0.generation }
  }

  private func loadIfNeeded() throws {
    if state.withLock({ $0.loaded }) { return }
    try reload()
  }

  // MARK: changes

  /// Reads everything from disk again.
  func reload() throws {
    let began = beginRead()
    let all = try readAll()
    var events: [(CRISandbox?, CRISandbox?)] = []
    state.withLock { s in
      let old = s.byID
      s.byID = [:]
      for sb in all { s.byID[sb.id] = sb }
      // Pods read again since this read began keep that newer view (or their absence).
      for (id, n) in s.readOf where n > began { s.byID[id] = old[id] }
      for id in s.byID.keys where (s.readOf[id] ?? -1) <= began { s.readOf[id] = began }
      let forget = s.previousReload
      s.readOf = s.readOf.filter { s.byID[$0.key] != nil || $0.value >= forget }
      s.previousReload = began
      if s.loaded {
        for (id, sb) in s.byID where !Self.same(old[id], sb) { events.append((old[id], sb)) }
        for (id, sb) in old where s.byID[id] == nil { events.append((sb, nil)) }
      }
      s.loaded = true
      Self.reindex(&s)
    }
    for (old, new) in events { changed(old, new) }
    signalWatcher()
  }

  /// Reads pod `id` from disk again (after an RPC changed it, or stage1 said it did).
  func refresh(_ id: String) {
    let began = beginRead()
    let new = readOne(id)
    let old: CRISandbox?? = state.withLock { s in
      guard (s.readOf[id] ?? -1) < began else { return .none }  // a later read already stored its view
      s.readOf[id] = began
      let old = s.byID[id]
      s.byID[id] = new
      Self.reindex(&s)
      return .some(old)
    }
    guard case .some(let old) = old else { return }
    if !Self.same(old, new) { changed(old, new) }
    signalWatcher()
  }

  /// The number of a read of the disk about to begin.
  private func beginRead() -> Int {
    state.withLock { s in
      s.nextRead += 1
      return s.nextRead
    }
  }

  /// Whether two views of a pod say the same to a reader (status and manifest).
  static func same(_ a: CRISandbox?, _ b: CRISandbox?) -> Bool {
    guard let a, let b else { return a == nil && b == nil }
    return a.place == b.place && a.status == b.status && a.manifest == b.manifest
  }

  private static func reindex(_ s: inout State) {
    s.generation &+= 1
    s.ordered = s.byID.values.sorted { ($0.manifest.createdAt, $0.id) < ($1.manifest.createdAt, $1.id) }
    s.containerSandbox = [:]
    for sb in s.ordered {
      for app in sb.manifest.apps where app.annotations[CRIKeys.kind] == CRIKeys.containerKind {
        s.containerSandbox[app.name] = sb.id
      }
    }
  }

  // MARK: the watcher

  /// Starts the thread that listens on `dir/events.sock` and watches the running stage1s.
  func startWatching(dir: String, logger: Logger) throws {
    let socket = try UnixSocket.bindDatagram(dir: dir, name: "events.sock")
    let thread = Thread { [self] in self.watch(socket: socket) }
    thread.name = "liftoff-cri pod index"
    thread.start()
    logger.debug("pod index watching", metadata: ["socket": "\(dir)/events.sock"])
  }

  private func signalWatcher() {
    var one: UInt8 = 1
    _ = write(wake.write, &one, 1)
  }

  private func watch(socket: Int32) {
    var lastReload = LiftoffOS.Clock.monotonic()
    while true {
      // The pidfds follow the running sandboxes of the index.
      let watched: [(String, Int32)] = state.withLock { s in
        for (id, w) in s.watched where s.byID[id]?.ready != true || s.byID[id]?.status.pid != w.pid {
          close(w.fd)
          s.watched.removeValue(forKey: id)
        }
        s.fired = s.fired.filter { s.byID[$0.key]?.status.pid == $0.value }
        for sb in s.ordered where sb.ready && s.watched[sb.id] == nil && s.fired[sb.id] != sb.status.pid {
          if let pid = sb.status.pid, pid > 0 {
            let fd = liftoff_pidfd_open(pid)
            if fd >= 0 { s.watched[sb.id] = (pid, fd) }
          }
        }
        return s.watched.map { ($0.key, $0.value.fd) }
      }
      var fds = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0), pollfd(fd: socket, events: Int16(POLLIN), revents: 0)]
      fds += watched.map { pollfd(fd: $0.1, events: Int16(POLLIN), revents: 0) }
      let remaining = max(0, 10 - (LiftoffOS.Clock.monotonic() - lastReload))
      let n = poll(&fds, nfds_t(fds.count), Int32(remaining * 1000) + 1)
      if n < 0 && errno != EINTR { usleep(100_000) }
      var dirty = Set<String>()
      if fds[0].revents != 0 {
        var buf = [UInt8](repeating: 0, count: 256)
        while read(wake.read, &buf, buf.count) > 0 {}
      }
      if fds[1].revents != 0 {
        var buf = [UInt8](repeating: 0, count: 256)
        while true {
          let k = recv(socket, &buf, buf.count, Int32(MSG_DONTWAIT))
          if k <= 0 { break }
          let id = String(decoding: buf[0..<k], as: UTF8.self)
          if PodID.isValid(id) { dirty.insert(id) }
        }
      }
      let gone = watched.enumerated().filter { fds[$0.offset + 2].revents != 0 }.map(\.element.0)
      if !gone.isEmpty {
        state.withLock { s in
          for id in gone {
            guard let w = s.watched.removeValue(forKey: id) else { continue }
            close(w.fd)
            s.fired[id] = w.pid
          }
        }
        dirty.formUnion(gone)
      }
      for id in dirty { refresh(id) }
      if LiftoffOS.Clock.monotonic() - lastReload >= 10 {
        try? reload()
        lastReload = LiftoffOS.Clock.monotonic()
      }
    }
  }
}
