import LiftoffCore
import Testing

@Suite struct IDMappingTests {
  func message(_ list: [IDMapping]) -> String {
    do {
      try IDMapping.validate(list, field: "f")
      return ""
    } catch {
      return error.message
    }
  }

  @Test func validateNamesTheEntryAndTheProblem() {
    let ok = [IDMapping(containerID: 0, hostID: 65536, size: 65536), IDMapping(containerID: 65536, hostID: 0, size: 1)]
    #expect(message(ok) == "")
    #expect(message([IDMapping(containerID: 0, hostID: 1, size: 0)]) == "f[0]: length must be positive")
    #expect(message([IDMapping(containerID: UInt32.max, hostID: 1, size: 1)]) == "")
    #expect(message([IDMapping(containerID: UInt32.max, hostID: 1, size: 2)]).hasPrefix("f[0]: container id 4294967295"))
    #expect(message([IDMapping(containerID: 0, hostID: UInt32.max - 1, size: 3)]).hasPrefix("f[0]: host id"))
    #expect(message(ok + [IDMapping(containerID: 10, hostID: 200000, size: 1)]) == "f[2]: container ids overlap those of f[0]")
    #expect(message(ok + [IDMapping(containerID: 70000, hostID: 65535, size: 2)]) == "f[2]: host ids overlap those of f[0]")
    let many = (0..<341).map { IDMapping(containerID: UInt32($0), hostID: UInt32(1000 + $0), size: 1) }
    #expect(message(Array(many.prefix(340))) == "")
    #expect(message(many) == "f: 341 mappings, at most 340")
  }

  @Test func parseAndMap() throws {
    #expect(try IDMapping.parse("0:65536:65536", flag: "--x") == IDMapping(containerID: 0, hostID: 65536, size: 65536))
    #expect(try IDMapping.parse("1-2-3", separator: "-", flag: "--x") == IDMapping(containerID: 1, hostID: 2, size: 3))
    #expect(throws: LiftoffError.self) { try IDMapping.parse("0:65536", flag: "--x") }
    #expect(throws: LiftoffError.self) { try IDMapping.parse("0:-1:5", flag: "--x") }
    let m = UserNamespaceMappings(uids: [IDMapping(containerID: 0, hostID: 65536, size: 1000)], gids: [])
    #expect(m.hostUID(0) == 65536 && m.hostUID(999) == 66535 && m.hostUID(1000) == nil)
    #expect(IDMapping.procText(m.uids) == "0 65536 1000\n")
  }

  @Test func manifestRoundTripsAndRefusesMappingsWhereTheyDoNotApply() throws {
    var mount = AppMount(destination: "/d", source: "/h")
    mount.uidMappings = [IDMapping(containerID: 0, hostID: 65536, size: 65536)]
    mount.gidMappings = [IDMapping(containerID: 0, hostID: 65536, size: 65536)]
    let app = AppManifest(
      name: "a", image: AppImage(name: "i", id: "", layerDirs: ["/l"]), exec: ["/bin/true"], env: [], workingDir: "/",
      user: AppUser(uid: 0, gid: 0, additionalGids: []), readOnlyRootfs: false, capabilities: [], noNewPrivileges: true,
      seccomp: "unconfined", mounts: [mount], rlimits: [], resources: AppResources(), oomScoreAdj: nil, maskedPaths: [],
      readonlyPaths: [], interactive: false, stopSignal: nil)
    var m = PodManifest(
      id: String(repeating: "b", count: 64), createdAt: "", hostname: "h", network: PodNetwork(mode: .host), apps: [app])
    m.userNamespace = UserNamespaceMappings(
      uids: [IDMapping(containerID: 0, hostID: 131072, size: 65536)], gids: [IDMapping(containerID: 0, hostID: 131072, size: 65536)])
    m.cgroupParent = "kubepods.slice/kubepods-podx.slice"
    m.systemdSlice = "kubepods-podx.slice"
    let text = m.json.serialized()
    #expect(try PodManifest.parse(text) == m)

    var tmpfs = AppMount(destination: "/t", type: "tmpfs", source: "tmpfs")
    tmpfs.uidMappings = mount.uidMappings
    tmpfs.gidMappings = mount.gidMappings
    #expect(throws: LiftoffError.self) { try tmpfs.validateIDMapping(in: "m") }
    do {
      try tmpfs.validateIDMapping(in: "m")
    } catch {
      #expect(error.message == "m: uid/gid mappings need a bind mount, not tmpfs")
    }
    var withTmpfs = m
    withTmpfs.apps[0].mounts = [tmpfs]
    #expect(throws: LiftoffError.self) { try PodManifest.parse(withTmpfs.json.serialized()) }
    var fly = m
    fly.flavor = .fly
    #expect(throws: LiftoffError.self) { try PodManifest.parse(fly.json.serialized()) }
  }
}
