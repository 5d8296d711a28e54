// The escape suite through `liftoff run` (what a node bootstrap script or a user with an untrusted image
// does): hostile flags and rootfs contents aimed at a way out, each checking that the host is
// untouched. The CRI side is Tests/LiftoffCRITests/EscapeTests.swift; SECURITY.md lists both.
import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

@Suite(.needsRoot)
struct PodEscapeTests {
  /// A host directory with a secret file, outside every rootfs.
  func hostSecret(_ f: PodFixture) throws -> (dir: String, file: String, text: String) {
    let dir = f.base + "/host"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let text = "liftoff-host-secret-\(Random.hex(bytes: 4))"
    try text.write(toFile: dir + "/secret", atomically: true, encoding: .utf8)
    return (dir, dir + "/secret", text)
  }

  // runc CVE-2024-21626: `--working-dir /proc/self/fd/N` through a descriptor stage1 leaked.
  @Test func workingDirectoryUnderProcIsRefused() throws {
    let f = try PodFixture("wdproc")
    defer { f.tearDown() }
    let secret = try hostSecret(f)
    let climb = String(repeating: "../", count: 24) + String(secret.file.dropFirst())
    for fd in 3...7 {
      let r = try f.runShell("cat \(climb)", app: ["--working-dir", "/proc/self/fd/\(fd)"])
      #expect(!r.stdout.contains(secret.text), "--working-dir /proc/self/fd/\(fd) read the host: \(r.stdout)")
      #expect(r.status != 0 && r.stderr.contains("/proc"), "fd \(fd): \(r.stderr)")
    }
  }

  // runc CVE-2021-30465 class: a volume mounted through a symlink of the image (`/cni -> <host dir>`)
  // landed, with the empty file made for it, on the host.
  @Test func volumeThroughAnImageSymlinkStaysInside() throws {
    let f = try PodFixture("symlinkvol")
    defer { f.tearDown() }
    let target = f.base + "/target"
    try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: f.rootfs + "/cni", withDestinationPath: target)
    let source = f.base + "/x.conf"
    try "volume-data\n".write(toFile: source, atomically: true, encoding: .utf8)
    let r = try f.runShell("cat /cni/x.conf", app: ["--volume", "\(source):/cni/x.conf"])
    #expect(r.status == 0 && r.stdout.contains("volume-data"), "\(r)")
    let made = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
    #expect(made.isEmpty, "created on the host through the image's symlink: \(made)")
  }

  // A device node and a tmpfs aimed through a symlink of the image stay inside too.
  @Test func devicesAndTmpfsThroughImageSymlinksStayInside() throws {
    let f = try PodFixture("symlinkdev")
    defer { f.tearDown() }
    let target = f.base + "/target"
    try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: f.rootfs + "/scratch", withDestinationPath: target)
    let r = try f.runShell("ls -d /scratch/tmp; echo done", app: ["--mount", "tmpfs:/scratch/tmp"])
    #expect(r.stdout.contains("done"), "\(r)")
    let made = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
    #expect(made.isEmpty, "created on the host through the image's symlink: \(made)")
    let mounted = try Mounts.mountPoints().filter { $0.hasPrefix(target) }
    #expect(mounted.isEmpty, "mounted on the host's side: \(mounted)")
  }

  // The image's /etc/passwd was read through its symlinks on the host.
  @Test func userLookupStaysInsideTheImage() throws {
    let f = try PodFixture("passwd")
    defer { f.tearDown() }
    let host = f.base + "/hostetc"
    try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true)
    try "hostuser:x:4242:4242::/:/bin/sh\n".write(toFile: host + "/passwd", atomically: true, encoding: .utf8)
    try FileManager.default.removeItem(atPath: f.rootfs + "/etc")
    try FileManager.default.createSymbolicLink(atPath: f.rootfs + "/etc", withDestinationPath: host)
    let r = try f.runShell("id -u", app: ["--user", "hostuser"])
    #expect(!r.stdout.contains("4242"), "the user came from the host's file: \(r)")
    #expect(r.status != 0 && r.stderr.contains("hostuser"), "\(r)")
  }
}

func runShell(_ script: String) throws -> String {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: "/bin/sh")
  p.arguments = ["-c", script]
  let out = Pipe()
  p.standardOutput = out
  try p.run()
  let data = out.fileHandleForReading.readDataToEndOfFile()
  p.waitUntilExit()
  return String(decoding: data, as: UTF8.self)
}

/// LayerStack: a file of the image read as the container will see it, from the unpacked layers.
@Suite struct LayerStackTests {
  func layers(_ count: Int) throws -> (base: String, dirs: [String]) {
    let base = "/tmp/liftoff-layerstack-\(Random.hex(bytes: 4))"
    let dirs = (0..<count).map { "\(base)/\($0)" }
    for d in dirs { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
    return (base, dirs)
  }

  func write(_ path: String, _ text: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: false, encoding: .utf8)
  }

  func read(_ dirs: [String], _ path: String) -> String? {
    LayerStack(layers: dirs).readFile(path).map { String(decoding: $0, as: UTF8.self) }
  }

  @Test func topmostLayerWinsAndSymlinksResolveInsideTheView() throws {
    let (base, l) = try layers(3)
    defer { try? FileManager.default.removeItem(atPath: base) }
    try write(l[0] + "/etc/passwd", "lower")
    try write(l[1] + "/etc/passwd", "middle")
    #expect(read(l, "/etc/passwd") == "middle")
    // A relative and an absolute symlink, both resolved in the view.
    try write(l[0] + "/data/real", "real")
    try FileManager.default.createDirectory(atPath: l[2] + "/etc", withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: l[2] + "/etc/group", withDestinationPath: "../data/real")
    try FileManager.default.createSymbolicLink(atPath: l[2] + "/abs", withDestinationPath: "/data/real")
    #expect(read(l, "/etc/group") == "real")
    #expect(read(l, "/abs") == "real")
    #expect(read(l, "/../../etc/passwd") == "middle")
  }

  @Test func symlinksToHostPathsResolveInsideTheView() throws {
    let (base, l) = try layers(2)
    defer { try? FileManager.default.removeItem(atPath: base) }
    let host = base + "/host"
    try write(host + "/passwd", "HOST")
    // /etc -> <host dir>, in the top layer over a real /etc below.
    try write(l[0] + "/etc/passwd", "image")
    try FileManager.default.createSymbolicLink(atPath: l[1] + "/etc", withDestinationPath: host)
    #expect(read(l, "/etc/passwd") == nil)
    // The same path inside the image is what it reads.
    try write(l[0] + host + "/passwd", "inside")
    #expect(read(l, "/etc/passwd") == "inside")
    // A lower layer's /etc that is a symlink never lets an upper directory read through it.
    let (base2, m) = try layers(2)
    defer { try? FileManager.default.removeItem(atPath: base2) }
    try FileManager.default.createSymbolicLink(atPath: m[0] + "/etc", withDestinationPath: host)
    try FileManager.default.createDirectory(atPath: m[1] + "/etc", withIntermediateDirectories: true)
    #expect(read(m, "/etc/passwd") == nil)
  }

  @Test func whiteoutsAndOpaqueDirectoriesHideLowerLayers() throws {
    let (base, l) = try layers(2)
    defer { try? FileManager.default.removeItem(atPath: base) }
    try write(l[0] + "/etc/passwd", "lower")
    try write(l[0] + "/etc/group", "lower")
    try FileManager.default.createDirectory(atPath: l[1] + "/etc", withIntermediateDirectories: true)
    #expect(mknod(l[1] + "/etc/passwd", S_IFCHR, 0) == 0)  // an overlayfs whiteout
    #expect(read(l, "/etc/passwd") == nil)
    #expect(read(l, "/etc/group") == "lower")
    let marked = try runShell("setfattr -n trusted.overlay.opaque -v y \(l[1])/etc && echo ok")
    #expect(marked.contains("ok"), "setfattr (Debian's attr) is needed: \(marked)")
    #expect(read(l, "/etc/group") == nil)
    // OCI's form, in a rootfs directory.
    let (base2, m) = try layers(2)
    defer { try? FileManager.default.removeItem(atPath: base2) }
    try write(m[0] + "/etc/passwd", "lower")
    try write(m[1] + "/.wh.etc", "")
    #expect(read(m, "/etc/passwd") == nil)
  }

  @Test func loopsAndFilesInThePathAreNotFollowed() throws {
    let (base, l) = try layers(1)
    defer { try? FileManager.default.removeItem(atPath: base) }
    try FileManager.default.createSymbolicLink(atPath: l[0] + "/a", withDestinationPath: "b")
    try FileManager.default.createSymbolicLink(atPath: l[0] + "/b", withDestinationPath: "a")
    #expect(read(l, "/a") == nil)
    try write(l[0] + "/file", "x")
    #expect(read(l, "/file/passwd") == nil)
  }

  /// An image volume's sub path (CRI image_sub_path): a directory of the merged view, refused — not
  /// confined — when `..` or an absolute symlink leads out of the image, as containerd's os.Root does.
  @Test func imageSubPathsMustBeDirectoriesInsideTheImage() throws {
    let (base, l) = try layers(2)
    defer { try? FileManager.default.removeItem(atPath: base) }
    try write(l[0] + "/data/sub/file", "x")
    try write(l[0] + "/gone/file", "x")
    try FileManager.default.createDirectory(atPath: l[1] + "/data", withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: l[1] + "/data/rel", withDestinationPath: "sub")
    try FileManager.default.createSymbolicLink(atPath: l[1] + "/data/up", withDestinationPath: "../../..")
    try FileManager.default.createSymbolicLink(atPath: l[1] + "/root", withDestinationPath: "/")
    try FileManager.default.createSymbolicLink(atPath: l[1] + "/abs", withDestinationPath: "/data/sub")
    try write(l[1] + "/.wh.gone", "")
    let stack = LayerStack(layers: l)
    func problem(_ p: String) -> String? {
      do { try stack.checkSubdirectory(p, image: "img") } catch { return error.message }
      return nil
    }
    #expect(problem("data/sub") == nil)
    #expect(problem("data/rel") == nil)
    #expect(problem("data/./sub/../sub") == nil)
    #expect(problem("data/sub/file")?.contains("is not a directory") == true)
    #expect(problem("nothing")?.contains("does not exist") == true)
    #expect(problem("gone")?.contains("does not exist") == true)
    for escape in ["..", "../../..", "data/../..", "data/up", "root", "abs", "/data"] {
      #expect(problem(escape)?.contains("leads out of the image") == true, "\(escape)")
    }
  }
}
