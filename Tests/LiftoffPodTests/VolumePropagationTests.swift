// Volume mount propagation between the host and a container, as kubelet asks for it (CRI
// PROPAGATION_HOST_TO_CONTAINER → rslave, PROPAGATION_BIDIRECTIONAL → rshared): seen from both
// sides, refused on a private host mount, and symlinked sources resolved.
import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffTestSupport
import Testing

@Suite(.needsRoot)
struct VolumePropagationTests {
  @Test func rsharedAndRslaveVolumesPropagateAndPrivateHostMountsAreRefused() throws {
    let f = try PodFixture("propagation")
    defer { f.tearDown() }
    let shared = try Mounts.canonical(f.base) + "/shared"
    try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
    try Mounts.bind(shared, shared, recursive: false)
    defer { _ = try? Mounts.unmountAll(under: shared) }
    try Mounts.setPropagation(shared, .shared)
    let link = f.base + "/link"
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: shared)

    let sb = try f.liftoff(["app", "sandbox"])
    sb.check()
    let id = sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    defer { _ = try? f.liftoff(["stop", "--force", id]) }
    try f.liftoff([
      "app", "add", id, f.rootfs, "--name", "m", "--privileged", "--volume", "\(link):/both:rshared", "--volume",
      "\(shared):/in:rslave", "--exec", "/bin/sleep", "--", "300",
    ]).check()
    try f.liftoff(["app", "start", "--app", "m", id]).check()
    // The symlink was resolved when the app was added.
    let manifest = try f.liftoff(["cat-manifest", id]).stdout
    #expect(manifest.contains("\"source\": \"\(shared)\"") && !manifest.contains(link), "\(manifest)")

    // Container → host (rshared only).
    let inside = try f.liftoff(["enter", id, "/bin/sh", "-c", "mkdir -p /both/fromctr && mount -t tmpfs ctr /both/fromctr && echo mounted"])
    #expect(inside.stdout == "mounted\n", "\(inside)")
    #expect(try Mounts.mountPoints().contains(shared + "/fromctr"))

    // Host → container (both).
    try FileManager.default.createDirectory(atPath: shared + "/fromhost", withIntermediateDirectories: true)
    try Mounts.mount("tmpfs", shared + "/fromhost", type: "tmpfs", data: "size=1m")
    let seen = try f.liftoff(["enter", id, "/bin/sh", "-c", "cut -d' ' -f5 /proc/self/mountinfo | grep fromhost | sort"])
    #expect(seen.stdout == "/both/fromhost\n/in/fromhost\n", "\(seen)")

    // A private host mount cannot propagate: refused, naming it.
    let priv = f.base + "/private"
    try FileManager.default.createDirectory(atPath: priv, withIntermediateDirectories: true)
    let both = try f.liftoff(["app", "add", id, f.rootfs, "--name", "p1", "--volume", "\(priv):/p:rshared", "--exec", "/bin/true"])
    #expect(both.status != 0 && both.stderr.contains("rshared propagation needs a shared host mount"), "\(both.stderr)")
    #expect(both.stderr.contains("which is private"))
    let recv = try f.liftoff(["app", "add", id, f.rootfs, "--name", "p2", "--volume", "\(priv):/p:rslave", "--exec", "/bin/true"])
    #expect(recv.status != 0 && recv.stderr.contains("rslave propagation needs a shared or slave host mount"), "\(recv.stderr)")
    #expect(try f.statusJSON(id).apps.map(\.name) == ["m"])
  }

  @Test func mountinfoPropagationFields() throws {
    let info = """
      22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
      30 22 0:40 / /srv/data rw master:7 - ext4 /dev/sdb1 rw
      31 22 0:41 / /srv/priv rw - tmpfs tmpfs rw
      32 30 0:42 / /srv/data/x\\040y rw shared:9 master:7 - tmpfs tmpfs rw
      """
    let root = try #require(try Mounts.propagation(of: "/home/u", mountinfo: info))
    #expect(root.mountPoint == "/" && root.shared && !root.slave)
    let data = try #require(try Mounts.propagation(of: "/srv/data/a", mountinfo: info))
    #expect(data.mountPoint == "/srv/data" && !data.shared && data.slave)
    #expect(try Mounts.propagation(of: "/srv/private", mountinfo: info)?.mountPoint == "/")
    #expect(try Mounts.propagation(of: "/srv/priv", mountinfo: info).map { !$0.shared && !$0.slave } == true)
    let spaced = try #require(try Mounts.propagation(of: "/srv/data/x y/z", mountinfo: info))
    #expect(spaced.mountPoint == "/srv/data/x y" && spaced.shared && spaced.slave)
  }
}
