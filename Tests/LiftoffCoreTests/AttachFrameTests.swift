import LiftoffCore
import Testing

/// The attach framing (AttachProtocol.swift) against byte sequences written from its description:
/// type, 4-byte big-endian length, payload.
struct AttachFrameTests {
  @Test func encodesAsDocumented() {
    #expect(AttachFrame.stdin(Array("hi".utf8)).encoded == [1, 0, 0, 0, 2, 0x68, 0x69])
    #expect(AttachFrame.stdinClosed.encoded == [2, 0, 0, 0, 0])
    #expect(AttachFrame.resize(rows: 0x0102, cols: 80).encoded == [3, 0, 0, 0, 4, 1, 2, 0, 80])
    #expect(AttachFrame.helloWithStdin.encoded == [4, 0, 0, 0, 0])
    #expect(AttachFrame.stdout([0xff]).encoded == [1, 0, 0, 0, 1, 0xff])
    #expect(AttachFrame.stderr([]).encoded == [2, 0, 0, 0, 0])
    #expect(AttachFrame.exit(137).encoded == [5, 0, 0, 0, 4, 0, 0, 0, 137])
    #expect(AttachFrame.exit(-1).encoded == [5, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff])
  }

  @Test func decodesBothDirectionsAndPartialInput() throws {
    let bytes: [UInt8] = [1, 0, 0, 0, 3, 0x61, 0x62, 0x63, 3, 0, 0, 0, 4, 0, 24, 0, 80, 2]
    let (first, used) = try #require(try AttachFrame.decode(bytes[...], direction: .toStage1))
    #expect(first == .stdin(Array("abc".utf8)) && used == 8)
    let (second, used2) = try #require(try AttachFrame.decode(bytes[8...], direction: .toStage1))
    #expect(second == .resize(rows: 24, cols: 80) && used2 == 9)
    // A frame cut short: nil until the rest arrives.
    #expect(try AttachFrame.decode(bytes[17...], direction: .toStage1) == nil)
    #expect(try AttachFrame.decode([1, 0, 0, 0, 3, 0x61][...], direction: .toClient) == nil)
    // The same type byte means different things in each direction.
    #expect(try AttachFrame.decode([2, 0, 0, 0, 1, 0x7a][...], direction: .toClient)?.0 == .stderr([0x7a]))
    #expect(try AttachFrame.decode([5, 0, 0, 0, 4, 0, 0, 1, 0][...], direction: .toClient)?.0 == .exit(256))
  }

  @Test func rejectsBadFrames() {
    #expect(throws: LiftoffError.self) { try AttachFrame.decode([9, 0, 0, 0, 0][...], direction: .toStage1) }
    #expect(throws: LiftoffError.self) { try AttachFrame.decode([5, 0, 0, 0, 0][...], direction: .toStage1) }
    #expect(throws: LiftoffError.self) { try AttachFrame.decode([3, 0, 0, 0, 2, 0, 1][...], direction: .toStage1) }
    #expect(throws: LiftoffError.self) { try AttachFrame.decode([5, 0, 0, 0, 1, 0][...], direction: .toClient) }
    // Over the 1 MiB payload limit: refused from the header alone.
    #expect(throws: LiftoffError.self) { try AttachFrame.decode([1, 0, 0x10, 0, 1][...], direction: .toStage1) }
  }
}
