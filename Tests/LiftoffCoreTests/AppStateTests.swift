// AppState reads state.json's flat form into the phase it names, and refuses a phase without what it
// always has (FormatFixtureTests reads the files real builds wrote).
import LiftoffCore
import Testing

struct AppStateTests {
  @Test func eachPhaseRoundTrips() throws {
    let states: [AppState] = [
      .created,
      .running(.init(pid: 42, pidStartTime: 7, startedAt: "2026-12-04T00:00:00Z")),
      .exited(.init(startedAt: nil, finishedAt: "f", exitCode: 137, signal: 9, reason: .oomKilled, message: "m")),
    ]
    for s in states { #expect(try AppState(json: JSON.parse(s.json.serialized())) == s) }
  }

  @Test(arguments: [
    (#"{"phase":"running","startedAt":"s"}"#, "pid"),
    (#"{"phase":"exited","finishedAt":"f","reason":"Completed"}"#, "exitCode"),
    (#"{"phase":"paused"}"#, "paused"),
    (#"{"phase":"exited","exitCode":4294967296}"#, "exitCode"),
  ])
  func aPhaseWithoutWhatItAlwaysHasIsRefused(_ text: String, _ named: String) throws {
    #expect { try AppState(json: JSON.parse(text)) } throws: { "\($0)".contains(named) }
  }

  @Test func aReasonThisBuildDoesNotKnowReadsByTheExitCode() throws {
    let e = try AppState(json: JSON.parse(#"{"phase":"exited","exitCode":3,"reason":"Evicted"}"#)).exited
    #expect(e?.reason == .error && e?.exitCode == 3)
    let ok = try AppState(json: JSON.parse(#"{"phase":"exited","exitCode":0}"#)).exited
    #expect(ok?.reason == .completed)
  }
}
