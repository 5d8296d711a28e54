// Upgrades: pods outlive the build that made them, so every later build must read what earlier ones
// wrote. Fixtures/formats/<format>-<build>/ holds files written by real builds — pod.json and two
// apps' state.json from `liftoff app sandbox`/`app add`/`app start` (a 64 MiB, 512-share, 100-pid app
// with a read-only volume, an env var, a dropped capability and a device; and an app that exited),
// and the stage1 requests that build sent. 20b8d80 is a build from before protocol levels existed;
// 2026-12-04 is today's. Add a directory when a format changes; never edit or remove one.
import Foundation
import LiftoffCore
import Testing

struct FormatFixtureTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/formats").path

  static var builds: [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted()
  }

  static func read(_ build: String, _ name: String) throws -> String {
    try String(contentsOfFile: "\(root)/\(build)/\(name)", encoding: .utf8)
  }

  @Test func everyBuildHasFixtures() {
    #expect(Self.builds.contains("v1-20b8d80") && Self.builds.contains("v1-2026-12-04"), "\(Self.builds)")
  }

  @Test(arguments: builds) func podManifestOfEveryEarlierBuildIsRead(build: String) throws {
    let m = try PodManifest.parse(Self.read(build, "pod.json"))
    #expect(m.mutable && m.hostname == "fx" && m.network.mode == .none)
    #expect(m.apps.map(\.name) == ["web", "done"])
    let web = m.apps[0]
    #expect(web.exec == ["/bin/sleep", "1000"])
    #expect(web.env.contains("A=1"))
    #expect(web.resources.memoryBytes == 64 << 20 && web.resources.cpuShares == 512 && web.resources.pidsMax == 100)
    #expect(web.mounts.map(\.destination) == ["/data"] && web.mounts[0].readOnly && web.mounts[0].flags.isEmpty)
    #expect(!web.capabilities.contains("CAP_NET_RAW") && web.capabilities.contains("CAP_CHOWN"))
    // Written again by this build, it reads back the same.
    #expect(try PodManifest.parse(m.json.serialized(pretty: true)) == m)
  }

  /// An app whose directory is gone (`app rm` renamed it into `removed/`) is not part of the pod, in
  /// a manifest of any build; with every directory there the manifest is unchanged.
  @Test(arguments: builds) func anAppWhoseDirectoryIsGoneIsLeftOut(build: String) throws {
    let m = try PodManifest.parse(Self.read(build, "pod.json"))
    var asked: [String] = []
    let standing = m.withoutRemovedApps(podDir: "/p") { path in
      asked.append(path)
      return path != "/p/apps/web"
    }
    #expect(standing.apps.map(\.name) == ["done"])
    #expect(asked.contains("/p/apps/web") && asked.contains("/p/apps/done"))
    #expect(m.withoutRemovedApps(podDir: "/p") { _ in true } == m)
    #expect(m.withoutRemovedApps(podDir: "/p") { _ in false }.apps.isEmpty)
  }

  @Test(arguments: builds) func appStatesOfEveryEarlierBuildAreRead(build: String) throws {
    let running = try AppState(json: JSON.parse(Self.read(build, "state-running.json")))
    guard case .running(let r) = running else {
      Issue.record("\(build): state-running.json read as \(running.phase)")
      return
    }
    #expect(r.pid > 0)
    // pidStartTime came later than 20b8d80: a state without it must still read (as nil).
    #expect((r.pidStartTime == nil) == (build == "v1-20b8d80"))
    let exited = try AppState(json: JSON.parse(Self.read(build, "state-exited.json")))
    #expect(exited.exited?.exitCode == 0 && exited.exited?.reason == .completed)
  }

  @Test(arguments: builds) func stage1RequestsOfEveryEarlierBuildAreUnderstood(build: String) throws {
    let lines = try Self.read(build, "stage1-requests.jsonl").split(separator: "\n")
    let requests = try lines.map { try Stage1Request(json: JSON.parse(String($0))) }
    #expect(
      requests == [
        .ping, .stopPod(timeoutSeconds: 30), .startApp(name: "web"), .stopApp(name: "web", timeoutSeconds: 5),
        .removeApp(name: "web"), .reopenLog(name: "web"),
      ])
  }

  /// A request from a newer liftoff than this stage1 is refused, naming the levels.
  @Test func aRequestOfAHigherLevelIsRefused() throws {
    let next = Stage1Protocol.level + 1
    #expect(throws: LiftoffError.self) { try Stage1Request(json: JSON.parse(#"{"op":"startApp","v":\#(next),"name":"web"}"#)) }
    do {
      _ = try Stage1Request(json: JSON.parse(#"{"op":"ping","v":\#(next)}"#))
    } catch {
      #expect(error.code == .failedPrecondition && error.message.contains("level \(next)"), "\(error)")
    }
    #expect(try Stage1Request(json: Stage1Request.ping.json) == .ping)
    #expect(Stage1Protocol.level(fromFile: "2\n") == 2 && Stage1Protocol.level(fromFile: "") == nil)
  }
}
