import LiftoffCore
import Testing

@Suite struct JSONTests {
  @Test func roundTripsNestedValuesAndEscapes() throws {
    let text = #"{"a":[1,-2.5,true,false,null],"s":"q\"\\\n\t\u0001é😀","o":{}}"#
    let v = try JSON.parse(text)
    #expect(v["s"]?.stringValue == "q\"\\\n\t\u{01}é😀")
    #expect(v["a"]?.arrayValue?.count == 5)
    #expect(try JSON.parse(v.serialized()) == v)
    #expect(try JSON.parse(v.serialized(pretty: true)) == v)
  }

  @Test func serializesEscapesAndLayoutExactly() throws {
    let v = JSON.object([
      ("k\"", .string("a\"b\\c\nd\re\tf\u{01}\u{1f}é😀")), ("n", .array([.number(1), .number(-2.5), .bool(true), .null])), ("o", .object([])),
    ])
    #expect(v.serialized() == #"{"k\"":"a\"b\\c\nd\re\tf\u0001\u001fé😀","n":[1,-2.5,true,null],"o":{}}"#)
    #expect(
      v.serialized(pretty: true) == #"""
        {
          "k\"": "a\"b\\c\nd\re\tf\u0001\u001fé😀",
          "n": [
            1,
            -2.5,
            true,
            null
          ],
          "o": {}
        }
        """#)
  }

  @Test func rejectsInvalidUTF8InStringsWithAndWithoutEscapes() throws {
    for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0x5C, 0x6E, 0xC3, 0x22], [0x22, 0x61, 0x0A, 0x22]] {
      #expect(throws: LiftoffError.self) { try JSON.parse(bytes: bytes) }
    }
    #expect(try JSON.parse(bytes: Array(#""a\u00e9b""#.utf8)).stringValue == "aéb")
  }

  @Test func parsesSurrogatePairs() throws {
    #expect(try JSON.parse(#""\ud83d\ude00""#).stringValue == "😀")
  }

  @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"abc", "1 2", "{\"a\":1,}", "\"\\x\""])
  func rejectsMalformedDocuments(_ text: String) {
    #expect(throws: LiftoffError.self) { try JSON.parse(text) }
  }

  @Test func podManifestRoundTrips() throws {
    let app = AppManifest(
      name: "web", image: AppImage(name: "busybox", id: "sha256:ab", layerDirs: ["/l/1", "/l/2"]),
      exec: ["/bin/sh", "-c", "echo \"hi\""], env: ["PATH=/bin", "A=b=c"], workingDir: "/w",
      user: AppUser(uid: 1000, gid: 1000, additionalGids: [29, 50]), readOnlyRootfs: true,
      capabilities: ["CAP_CHOWN"], noNewPrivileges: true, seccomp: "unconfined",
      mounts: [AppMount(destination: "/d", source: "/h", readOnly: true, propagation: .rslave)],
      rlimits: [AppRlimit(type: "RLIMIT_NOFILE", soft: 1024, hard: UInt64.max)],
      resources: AppResources(memoryBytes: 64 << 20, cpuMillis: 500, pidsMax: 100), oomScoreAdj: 500,
      maskedPaths: ["/proc/kcore"], readonlyPaths: ["/proc/sys"], interactive: false, stopSignal: 15)
    let m = PodManifest(
      id: String(repeating: "a", count: 64), createdAt: "2026-01-02T03:04:05.000000006Z", flavor: .default,
      hostname: "h", network: PodNetwork(mode: .none, netnsPath: "/run/netns/x"), annotations: ["k": "v"], apps: [app])
    let back = try PodManifest.parse(m.json.serialized(pretty: true))
    #expect(back == m)
  }

  @Test func manifestErrorsNameTheField() {
    #expect {
      try PodManifest.parse(#"{"version":1,"id":"x","network":{"mode":"host"},"apps":[{"name":"a","image":{},"exec":[],"user":{}}]}"#)
    } throws: { e in
      "\(e)".contains("empty exec")
    }
    #expect {
      try PodManifest.parse(#"{"version":1,"id":"x","network":{"mode":"bogus"},"apps":[]}"#)
    } throws: { e in
      "\(e)".contains("bogus")
    }
  }

  @Test func stage1ProtocolRoundTrips() throws {
    for r in [Stage1Request.ping, .stopPod(timeoutSeconds: 3), .startApp(name: "a"), .stopApp(name: "a", timeoutSeconds: 2), .removeApp(name: "b")] {
      #expect(try Stage1Request(json: JSON.parse(r.json.serialized())) == r)
    }
    let e = Stage1Response(LiftoffError(.notFound, "app x not found"))
    #expect(throws: LiftoffError.self) { try Stage1Response(json: JSON.parse(e.json.serialized())).check() }
  }
}

@Suite struct TimestampTests {
  @Test func formatsAndParses() {
    #expect(Timestamp.rfc3339Nano(seconds: 0, nanoseconds: 0) == "1970-01-01T00:00:00.000000000Z")
    #expect(Timestamp.rfc3339Nano(seconds: 1_767_366_245, nanoseconds: 123_456_789) == "2026-01-02T15:04:05.123456789Z")
    #expect(Timestamp.rfc3339Nano(seconds: 951_782_400, nanoseconds: 1) == "2000-02-29T00:00:00.000000001Z")
    let p = Timestamp.parse("2026-01-02T15:04:05.123456789Z")
    #expect(p?.seconds == 1_767_366_245 && p?.nanoseconds == 123_456_789)
    #expect(Timestamp.parse("2026-01-02T15:04:05.5Z")?.nanoseconds == 500_000_000)
    #expect(Timestamp.parse("garbage") == nil)
  }
}

@Suite struct UserDatabaseTests {
  let db = UserDatabase(
    passwd: "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbroken line\n",
    group: "root:x:0:\nalice:x:1000:\nstaff:x:50:alice,bob\naudio:x:29:alice\n")

  @Test func resolvesNamesIdsAndSupplementaryGroups() throws {
    #expect(try db.resolve(user: nil, group: nil) == AppUser(uid: 0, gid: 0, additionalGids: [0]))
    #expect(try db.resolve(user: "alice", group: nil) == AppUser(uid: 1000, gid: 1000, additionalGids: [1000, 50, 29]))
    #expect(try db.resolve(user: "alice", group: "staff").gid == 50)
    #expect(try db.resolve(user: "alice:29", group: nil).gid == 29)
    #expect(try db.resolve(user: "4242", group: "4343") == AppUser(uid: 4242, gid: 4343, additionalGids: [4343]))
  }

  @Test func unknownNamesAreClearErrors() {
    #expect { try db.resolve(user: "mallory", group: nil) } throws: { "\($0)".contains("mallory") }
    #expect { try db.resolve(user: "alice", group: "wheel") } throws: { "\($0)".contains("wheel") }
  }
}

@Suite struct CRILogTests {
  let ts = "2026-01-02T15:04:05.000000001Z"

  @Test func fullPartialAndUnterminatedLines() {
    var s = CRILogSplitter(stream: "stdout")
    var out = s.feed(Array("a\nbc".utf8), timestamp: ts)
    out += s.feed(Array("d\n".utf8), timestamp: ts)
    out += s.feed(Array("tail".utf8), timestamp: ts)
    out += s.finish(timestamp: ts)
    #expect(String(decoding: out, as: UTF8.self) == "\(ts) stdout F a\n\(ts) stdout F bcd\n\(ts) stdout F tail\n")
  }

  @Test func linesOver16KiBAreSplitWithP() {
    var s = CRILogSplitter(stream: "stderr")
    let out = String(decoding: s.feed(Array(repeating: UInt8(ascii: "x"), count: 40000) + [0x0A], timestamp: ts), as: UTF8.self)
    let lines = out.split(separator: "\n")
    #expect(lines.map { $0.split(separator: " ")[2] } == ["P", "P", "F"])
    #expect(lines.map { $0.split(separator: " ")[3].count } == [16384, 16384, 40000 - 32768])
    #expect(lines.allSatisfy { $0.hasPrefix("\(ts) stderr ") })
  }

  /// A line of exactly 16 KiB is one F record; one that ends the stream unterminated too (before, a P
  /// record that nothing ended; noticed while writing the fuzz target's check).
  @Test func aLineOfExactly16KiBIsOneFullRecord() {
    let line = Array(repeating: UInt8(ascii: "y"), count: CRILogSplitter.maxLineBytes)
    var s = CRILogSplitter(stream: "stdout")
    let out = s.feed(line + [0x0A], timestamp: ts) + s.finish(timestamp: ts)
    #expect(out == Array("\(ts) stdout F ".utf8) + line + [0x0A])
    var t = CRILogSplitter(stream: "stdout")
    let end = t.feed(line, timestamp: ts) + t.finish(timestamp: ts)
    #expect(end == Array("\(ts) stdout F ".utf8) + line + [0x0A])
  }
}
