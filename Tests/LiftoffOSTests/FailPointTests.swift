import LiftoffOS
import Testing

/// LIFTOFF_FAILPOINT's value: exactly a point's name, optionally `@N` with N ≥ 1; anything else arms
/// nothing. (The kills themselves: LiftoffPodTests/FailPointTests.)
struct FailPointParseTests {
  @Test(arguments: FailPoint.allCases)
  func aNameArmsItsFirstHit(_ point: FailPoint) {
    let p = FailPoint.parse(point.rawValue)
    #expect(p?.point == point && p?.nth == 1)
    let third = FailPoint.parse(point.rawValue + "@3")
    #expect(third?.point == point && third?.nth == 3)
  }

  @Test(arguments: [
    "", "stage0", "stage0.", "stage0.pod-dir", "stage0.pod-dir-created ", " stage0.pod-dir-created", "STAGE0.POD-DIR-CREATED",
    "stage0.pod-dir-created@", "stage0.pod-dir-created@0", "stage0.pod-dir-created@-1", "stage0.pod-dir-created@+2",
    "stage0.pod-dir-created@1x", "stage0.pod-dir-created@1@2", "podDirCreated", "1", "@1",
  ])
  func anythingElseArmsNothing(_ value: String) {
    #expect(FailPoint.parse(value) == nil)
  }

  @Test func namesAreStableAndDistinct() {
    let names = FailPoint.allCases.map(\.rawValue)
    #expect(Set(names).count == names.count)
    for n in names {
      #expect(n.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" || $0 == "." }, "\(n)")
    }
  }
}
