// stage1's command line: what stage0 builds, stage1 parses back.
import LiftoffCore
import Testing

@Suite struct Stage1ArgumentsTests {
  @Test func bothFormsRoundTrip() {
    let run = Stage1Arguments(podDir: "/var/lib/liftoff/pods/run/x", lockFD: 7)
    #expect(run.arguments == ["--pod-dir", "/var/lib/liftoff/pods/run/x", "--lock-fd", "7"])
    let sandbox = Stage1Arguments(podDir: "/p", lockFD: 3, detach: true, startFD: 4, aliveFD: 5)
    #expect(sandbox.arguments == ["--pod-dir", "/p", "--lock-fd", "3", "--detach", "--start-fd", "4", "--alive-fd", "5"])
    for a in [run, sandbox] { #expect(Stage1Arguments(parsing: a.arguments) == a) }
    #expect(Stage1Arguments(parsing: ["--pod-dir", "/p"]) == nil)
    #expect(Stage1Arguments(parsing: ["--pod-dir", "/p", "--lock-fd", "3", "--other"]) == nil)
  }
}
