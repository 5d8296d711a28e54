// `liftoff app update POD --app A [resource flags]`: a live change of an app's cgroup limits. The new
// values are merged over the app's recorded resources (fields not given keep their values), checked,
// written into the app's cgroup files when it has a cgroup (it runs), then recorded in pod.json under
// manifest.lock by an atomic rename — so a restart of the app (or a later update) starts from them.
// A write the kernel refuses (a memory limit below current usage, a CPU not in the parent's cpuset)
// leaves pod.json as it was and is reported naming the file.
import Foundation
import LiftoffCore
import LiftoffOS

extension AppManager {
  /// Applies `update` to the app and returns its resources as recorded afterwards.
  @discardableResult
  public func update(
    _ id: String, app: String, _ update: AppResources, oomScoreAdj: Int? = nil, cgroups: Cgroups = .host()
  ) throws(LiftoffError) -> AppResources {
    if let adj = oomScoreAdj, !(-1000...1000).contains(adj) { throw .invalidArgument("oom_score_adj \(adj) is not in -1000…1000") }
    try cgroups.checkUnified(update, "app \(app)")
    guard let place = store.locate(id) else { throw .notFound("pod \(id) not found") }
    guard place == .run || place == .prepared else {
      throw .init(.failedPrecondition, "pod \(id) has exited: its apps cannot be updated")
    }
    return try withManifestLock(id, place) {
      var m = try readForWriting(id, place)
      guard let i = m.apps.firstIndex(where: { $0.name == app }) else { throw LiftoffError.notFound("pod \(id) has no app \(app)") }
      let cgroups = cgroups.of(m)
      let merged = m.apps[i].resources.merged(with: update)
      try merged.validate(in: "app \(app)")
      let running = place == .run && pods.isLocked(id, .run) && store.readAppState(id, at: .run, app: app)?.isRunning == true
      if running && cgroups.directories(pod: id, app: app).allSatisfy({ FileSystem.isDirectory($0) }) {
        do {
          try cgroups.apply(pod: id, app: app, resources: merged)
          // Every process of the app (its exec'd ones too); one that exits meanwhile is no error. A
          // process forked from one not yet changed keeps the old value: go over the list again
          // until a pass changes nothing (a few passes at most).
          if let adj = oomScoreAdj {
            var effective: Int?
            for _ in 0..<5 {
              var changed = false
              for pid in cgroups.pids(pod: id, app: app) where effective == nil || ProcessControl.oomScoreAdj(String(pid)) != effective {
                do {
                  effective = try ProcessControl.setOOMScoreAdj(adj, pid: pid)
                  changed = true
                } catch let e as SystemCallError where e.errno == ENOENT || e.errno == ESRCH {
                  continue
                }
              }
              if !changed { break }
            }
          }
        } catch let e as LiftoffError {
          throw e
        } catch {
          throw LiftoffError(.failedPrecondition, "app \(app) of pod \(id): updating its cgroup: \(error)")
        }
      }
      m.apps[i].resources = merged
      if let adj = oomScoreAdj { m.apps[i].oomScoreAdj = adj }
      try writeManifest(m, id, place)
      return merged
    }
  }

  /// Applies `update` to the pod's own cgroup (the parent of its apps', which bounds them all) and
  /// returns the pod's resources as recorded afterwards. The group is made if no app has run yet.
  @discardableResult
  public func updatePod(_ id: String, _ update: AppResources, cgroups: Cgroups = .host()) throws(LiftoffError) -> AppResources {
    try cgroups.checkUnified(update, "pod \(id)")
    guard let place = store.locate(id) else { throw .notFound("pod \(id) not found") }
    guard place == .run || place == .prepared else {
      throw .init(.failedPrecondition, "pod \(id) has exited: it cannot be updated")
    }
    return try withManifestLock(id, place) {
      var m = try readForWriting(id, place)
      let cgroups = cgroups.of(m)
      let merged = m.resources.merged(with: update)
      try merged.validate(in: "pod \(id)")
      if place == .run && pods.isLocked(id, .run) && m.flavor == .default {
        do {
          try cgroups.createPod(id, resources: merged)
          // The systemd driver: the pod's group is its scope, whose files systemd rewrites from the
          // unit's properties on daemon-reload; the limits go there too.
          if m.systemdSlice != nil {
            try SystemdUnits.setProperties(Cgroups.scopeUnit(pod: id), SystemdUnits.limitProperties(merged))
          }
        } catch let e as LiftoffError {
          throw e
        } catch {
          throw LiftoffError(.failedPrecondition, "pod \(id): updating its cgroup: \(error)")
        }
      }
      m.resources = merged
      try writeManifest(m, id, place)
      return merged
    }
  }

  /// Stats of the pod and its apps (or of one app).
  public func stats(_ id: String, app: String? = nil) throws(LiftoffError) -> PodStats {
    try StatsReader(store: store).stats(id, app: app)
  }
}
