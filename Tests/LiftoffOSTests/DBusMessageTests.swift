// D-Bus marshalling against byte sequences worked out by hand from the D-Bus Specification
// ("Message Protocol": header yyyyuua(yv) padded to 8; alignment counted from the message start; array
// length from the first element, after the padding to its alignment; variants carry a signature).
@testable import LiftoffOS
import LiftoffCore
import Testing

@Suite struct DBusMessageTests {
  static func hex(_ s: String) -> [UInt8] { s.split(separator: " ").map { UInt8($0, radix: 16)! } }

  /// Call serial 1, PATH "/a", MEMBER "M", body one string "x".
  static let smallCall = hex(
    "6c 01 00 01 06 00 00 00 01 00 00 00 27 00 00 00 "  // 'l', METHOD_CALL, flags, v1, body 6, serial 1, fields 39 bytes
      + "01 01 6f 00 02 00 00 00 2f 61 00 00 00 00 00 00 "  // (1, <o "/a">), padded to 8
      + "03 01 73 00 01 00 00 00 4d 00 00 00 00 00 00 00 "  // (3, <s "M">), padded to 8
      + "08 01 67 00 01 73 00 00 "  // (8, <g "s">), header padded to 8
      + "01 00 00 00 78 00")  // body: "x"

  @Test func encodesAMethodCallAsTheSpecificationLaysItOut() {
    let m = DBusMessage.call(serial: 1, destination: nil, path: "/a", interface: "", member: "M", [.string("x")])
    var noInterface = m
    noInterface.interface = nil
    #expect(noInterface.encoded() == Self.smallCall)
  }

  @Test func decodesWhatItEncodes() throws {
    let m = try DBusMessage.decode(Self.smallCall[...])
    #expect(m.kind == .methodCall && m.serial == 1 && m.path == "/a" && m.member == "M" && m.interface == nil)
    #expect(m.body == [.string("x")])
    #expect(try DBusMessage.length(of: Self.smallCall[...]) == Self.smallCall.count)
    #expect(try DBusMessage.length(of: Self.smallCall[..<15]) == nil)  // not even the fixed header yet
  }

  @Test func decodesABigEndianErrorReply() throws {
    // 'B', ERROR, NO_REPLY_EXPECTED, v1, body 7, serial 5; (4, <s "a.B">), (5, <u 1>), (8, <g "s">); body "no".
    let bytes = Self.hex(
      "42 03 01 01 00 00 00 07 00 00 00 05 00 00 00 1f "
        + "04 01 73 00 00 00 00 03 61 2e 42 00 00 00 00 00 "
        + "05 01 75 00 00 00 00 01 08 01 67 00 01 73 00 00 "
        + "00 00 00 02 6e 6f 00")
    #expect(try DBusMessage.length(of: bytes[...]) == bytes.count)
    let m = try DBusMessage.decode(bytes[...])
    #expect(m.kind == .error && m.flags == DBusMessage.noReplyExpected && m.serial == 5)
    #expect(m.errorName == "a.B" && m.replySerial == 1 && m.body == [.string("no")])
    let e = DBusError(name: "org.freedesktop.DBus.Error.InvalidArgs", message: "Invalid unit name 'a#b.slice'")
      .liftoffError(calling: "StartTransientUnit")
    #expect(e.code == .invalidArgument && "\(e)".contains("Invalid unit name 'a#b.slice'"))
  }

  @Test func padsArraysToTheirElementEvenWhenEmpty() {
    var w = DBusWriter()
    w.write(.array("(sv)", []))
    #expect(w.bytes == Self.hex("00 00 00 00 00 00 00 00"))  // length 0, then padding to 8
    w = DBusWriter()
    w.write(.byte(7))
    w.write(.array("t", [.uint64(5)]))
    #expect(w.bytes == Self.hex("07 00 00 00 08 00 00 00 05 00 00 00 00 00 00 00"))
    w = DBusWriter()
    w.write(.variant(.bool(true)))  // signature "b", padding to 4, uint32 1
    #expect(w.bytes == Self.hex("01 62 00 00 01 00 00 00"))
  }

  @Test func startTransientUnitRoundTrips() throws {
    let properties = SystemdUnits.scopeProperties(
      slice: "kubepods-burstable.slice", pids: [42, 43], description: "Liftoff pod x", delegate: true)
    #expect(properties.signature == "a(sv)")
    let call = DBusMessage.call(
      serial: 7, destination: "org.freedesktop.systemd1", path: "/org/freedesktop/systemd1",
      interface: "org.freedesktop.systemd1.Manager", member: "StartTransientUnit",
      [.string("liftoff-x.scope"), .string("fail"), properties, .array("(sa(sv))", [])])
    #expect(call.signature == "ssa(sv)a(sa(sv))")
    let bytes = call.encoded()
    #expect(try DBusMessage.length(of: bytes[...]) == bytes.count)
    #expect(try DBusMessage.decode(bytes[...]) == call)
    guard case .array(_, let entries) = properties else { Issue.record("not an array"); return }
    let names = entries.compactMap { e -> String? in
      guard case .structure(let f) = e else { return nil }
      return f.first?.string
    }
    #expect(names == ["Description", "Slice", "Delegate", "PIDs", "CollectMode"])
    #expect(entries[3] == .structure([.string("PIDs"), .variant(.array("u", [.uint32(42), .uint32(43)]))]))
  }

  @Test func refusesMalformedInput() throws {
    #expect(throws: LiftoffError.self) { try DBusMessage.decode(Self.hex("00 01 00 01")[...]) }
    var truncated = Self.smallCall
    truncated.removeLast(2)
    #expect(throws: LiftoffError.self) { try DBusMessage.decode(truncated[...]) }
    #expect(throws: LiftoffError.self) { try DBusSignature.split("a") }
    #expect(throws: LiftoffError.self) { try DBusSignature.split("(s") }
    #expect(try DBusSignature.split("ssa(sv)a(sa(sv))") == ["s", "s", "a(sv)", "a(sa(sv))"])
  }

  @Test func authenticatesWithTheUidsDigitsInHex() {
    #expect(DBusConnection.authLine(uid: 0) == "AUTH EXTERNAL 30\r\n")
    #expect(DBusConnection.authLine(uid: 1000) == "AUTH EXTERNAL 31303030\r\n")
  }

  /// cpuset lists as systemd's CPU-set properties: bit i of byte i/8, as runc's systemd driver sends them.
  @Test func cpusetListsBecomeByteMasks() {
    func bytes(_ list: String) -> [UInt8]? {
      guard case .array("y", let values)? = SystemdUnits.cpuMask(list) else { return nil }
      return values.map { if case .byte(let b) = $0 { b } else { 0xee } }
    }
    #expect(bytes("0") == [0x01])
    #expect(bytes("1") == [0x02])
    #expect(bytes("0-3,8") == [0x0f, 0x01])
    #expect(bytes("7,9-10") == [0x80, 0x06])
    #expect(bytes(" 2 , 4-5") == [0x34])
    for bad in ["", "a", "3-1", "-1", "1-", "1-2-3", "99999"] { #expect(bytes(bad) == nil, "\(bad)") }
  }

  /// `unified` keys that systemd writes from a property become that property; others stay files.
  @Test func unifiedKeysMapToTheirProperties() {
    func property(_ key: String, _ value: String) -> String? {
      SystemdUnits.unifiedProperty(key, value).map { "\($0.0)=\($0.1)" }
    }
    #expect(property("memory.high", "83886080") == "MemoryHigh=\(DBusValue.uint64(83_886_080))")
    #expect(property("memory.low", "max\n") == "MemoryLow=\(DBusValue.uint64(UInt64.max))")
    #expect(property("pids.max", "64") == "TasksMax=\(DBusValue.uint64(64))")
    #expect(property("cpu.max", "50000 100000") == "CPUQuotaPerSecUSec=\(DBusValue.uint64(500_000))")
    #expect(property("cpu.max", "max") == "CPUQuotaPerSecUSec=\(DBusValue.uint64(UInt64.max))")
    #expect(property("cpu.weight", "0") == nil)
    #expect(property("memory.high", "lots") == nil)
    #expect(property("io.max", "8:0 rbps=1048576") == nil)
    #expect(property("memory.oom.group", "1") == "OOMPolicy=\(DBusValue.string("kill"))")
    #expect(property("io.weight", "default 50") == "IOWeight=\(DBusValue.uint64(50))")
    #expect(property("io.weight", "8:0 50") == nil)
    #expect(property("hugetlb.2MB.max", "0") == nil)
    var r = AppResources(cpusetCpus: "0", cpusetMems: "0")
    r.unified = ["memory.high": "83886080", "io.max": "8:0 rbps=1", "io.weight": "default 50", "memory.oom.group": "1"]
    #expect(SystemdUnits.limitProperties(r).map(\.0) == ["AllowedCPUs", "AllowedMemoryNodes", "IOWeight", "MemoryHigh"])
    #expect(SystemdUnits.limitProperties(r, atStart: true).map(\.0) == ["AllowedCPUs", "AllowedMemoryNodes", "IOWeight", "MemoryHigh", "OOMPolicy"])
  }
}
