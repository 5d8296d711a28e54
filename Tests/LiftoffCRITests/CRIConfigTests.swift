import LiftoffCRI
import LiftoffCore
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
}
