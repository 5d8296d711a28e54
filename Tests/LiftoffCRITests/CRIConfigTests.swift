@testable import LiftoffCRI
import LiftoffCore
import LiftoffImage
import Testing

struct CRIConfigTests {
  @Test func tomlOverridesDefaults() throws {
    var c = CRIConfig()
    try c.apply(toml: "socket = \"/tmp/x.sock\"\nlog-level = \"debug\"\n", file: "t.toml")
    #expect(c.socket == "/tmp/x.sock")
    #expect(c.logLevel == "debug")
    #expect(c.dir == "/var/lib/liftoff")
    try c.validate()
    try c.apply(toml: "cni-default-network = false\ncni-bin-dir = \"/a:/b\"\n", file: "t.toml")
    #expect(!c.cniDefaultNetwork)
    #expect(c.cniBinDirs == ["/a", "/b"])
    #expect(throws: LiftoffError.self) { try c.apply(toml: "cni-default-network = \"no\"\n", file: "t.toml") }
  }

  @Test func wrongTypeUnknownKeyAndBadLevelAreNamed() throws {
    var c = CRIConfig()
    #expect(throws: LiftoffError.self) { try c.apply(toml: "socket = 3\n", file: "t.toml") }
    do {
      try c.apply(toml: "sockett = \"/x\"\n", file: "t.toml")
      Issue.record("unknown key accepted")
    } catch let e as LiftoffError {
      #expect(e.message.contains("sockett"))
    }
    do {
      try c.apply(toml: "socket = [", file: "t.toml")
      Issue.record("invalid TOML accepted")
    } catch let e as LiftoffError {
      #expect(e.message.contains("t.toml"))
    }
    c.logLevel = "loud"
    #expect(throws: LiftoffError.self) { try c.validate() }
  }

  /// cgroup-driver: cgroupfs by default; systemd only where systemd is PID 1; slice names expanded.
  @Test func cgroupDriverAndSliceParents() throws {
    var c = CRIConfig()
    #expect(c.cgroupDriver == "cgroupfs")
    try c.apply(toml: "cgroup-driver = \"systemd\"\n", file: "t.toml")
    try c.validate(systemdRunning: true)
    do {
      try c.validate(systemdRunning: false)
      Issue.record("the systemd driver was accepted without systemd")
    } catch let e as LiftoffError {
      #expect(e.message.contains("systemd is not PID 1"), "\(e.message)")
    }
    c.cgroupDriver = "cgroupv2"
    #expect { try c.validate(systemdRunning: true) } throws: { "\($0)".contains("cgroup-driver \"cgroupv2\"") }

    #expect(
      try RuntimeService.cgroupParentPath("kubepods-burstable-pod12ab.slice", driver: "systemd")
        == "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12ab.slice")
    #expect(try RuntimeService.cgroupParentPath("kubepods.slice", driver: "systemd") == "/kubepods.slice")
    #expect(try RuntimeService.cgroupParentPath("/kubepods/burstable/pod12ab", driver: "cgroupfs") == "/kubepods/burstable/pod12ab")
    for bad in ["/kubepods/burstable", "kubepods--x.slice", "-kubepods.slice", "kubepods", "-.slice"] {
      #expect { try RuntimeService.cgroupParentPath(bad, driver: "systemd") } throws: { "\($0)".contains("not a systemd slice name") }
    }
    #expect { try RuntimeService.cgroupParentPath("/a/../b", driver: "cgroupfs") } throws: { "\($0)".contains("not a path of names") }
  }

  @Test func streamAddressAndPort() throws {
    var c = CRIConfig()
    #expect(c.streamAddress == "127.0.0.1")
    #expect(c.streamPort == 0)
    try c.apply(toml: "stream-address = \"::1\"\nstream-port = 10010\n", file: "t.toml")
    #expect(c.streamAddress == "::1")
    #expect(c.streamPort == 10010)
    try c.validate()
    #expect(throws: LiftoffError.self) { try c.apply(toml: "stream-port = \"x\"\n", file: "t.toml") }
    c.streamPort = 70000
    #expect(throws: LiftoffError.self) { try c.validate() }
    c.streamPort = 0
    c.streamAddress = "localhost"
    #expect(throws: LiftoffError.self) { try c.validate() }
  }

  /// max-unpacked-bytes / max-unpacked-entries: a size with a unit or an integer in the file; errors
  /// name the setting and the file; the image store gets them.
  @Test func unpackLimits() throws {
    var c = CRIConfig()
    #expect(c.unpackLimits == UnpackLimits(maxBytes: 64 << 30, maxEntries: 4 << 20))
    try c.apply(toml: "max-unpacked-bytes = \"100GiB\"\nmax-unpacked-entries = 10000000\n", file: "t.toml")
    #expect(c.maxUnpackedBytes == 100 << 30 && c.maxUnpackedEntries == 10_000_000)
    try c.apply(toml: "max-unpacked-bytes = 1048576\n", file: "t.toml")
    #expect(c.maxUnpackedBytes == 1 << 20)
    do {
      try c.apply(toml: "max-unpacked-bytes = \"big\"\n", file: "t.toml")
      Issue.record("a bad size was accepted")
    } catch let e as LiftoffError {
      #expect(e.message == "config file t.toml: max-unpacked-bytes \"big\": want a positive size in bytes, or with K, M, G or T (KiB, MiB, GiB, TiB)")
    }
    #expect(throws: LiftoffError.self) { try c.apply(toml: "max-unpacked-entries = 0\n", file: "t.toml") }
    try c.setUnpackLimits(bytes: "2T", entries: nil, prefix: "--")
    #expect(c.maxUnpackedBytes == 2 << 40 && c.maxUnpackedEntries == 10_000_000)
    do {
      try c.setUnpackLimits(bytes: nil, entries: "many", prefix: "--")
      Issue.record("a bad count was accepted")
    } catch let e as LiftoffError {
      #expect(e.message.hasPrefix("--max-unpacked-entries \"many\""))
    }
  }
}

struct CRIConfigPinnedImagesTests {
  @Test func pinnedImagesFromTOML() throws {
    var c = CRIConfig()
    #expect(c.pinnedImages.isEmpty)
    try c.apply(toml: "pinned-images = [\"busybox\", \"sha256:\(String(repeating: "a", count: 64))\"]\n", file: "t.toml")
    #expect(c.pinnedImages == ["busybox", "sha256:" + String(repeating: "a", count: 64)])
    try c.validate()
    #expect { try c.apply(toml: "pinned-images = \"busybox\"\n", file: "t.toml") } throws: {
      "\($0)".contains("\"pinned-images\" must be a list of strings")
    }
    #expect { try c.apply(toml: "pinned-images = [1]\n", file: "t.toml") } throws: {
      "\($0)".contains("\"pinned-images\" must be a list of strings")
    }
    c.pinnedImages = ["sha256:abc"]
    #expect { try c.validate() } throws: { "\($0)".contains("\"sha256:abc\" is neither an image reference nor an image ID") }
  }
}

struct CRIConfigCDITests {
  @Test func cdiSpecDirsFromTOML() throws {
    var c = CRIConfig()
    #expect(c.cdiSpecDirs == ["/etc/cdi", "/var/run/cdi"])
    try c.apply(toml: "cdi-spec-dirs = [\"/x/cdi\"]\n", file: "t.toml")
    #expect(c.cdiSpecDirs == ["/x/cdi"])
    try c.validate()
    #expect { try c.apply(toml: "cdi-spec-dirs = \"/x\"\n", file: "t.toml") } throws: {
      "\($0)".contains("\"cdi-spec-dirs\" must be a list of strings")
    }
    c.cdiSpecDirs = ["relative/cdi"]
    #expect { try c.validate() } throws: { "\($0)".contains("cdi-spec-dirs: \"relative/cdi\" must be an absolute path") }
  }
}
