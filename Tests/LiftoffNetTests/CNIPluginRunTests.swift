// The report line `liftoff` writes per CNI plugin invocation and liftoff-cri parses (CNIPluginRun.swift).
import Foundation
import LiftoffNet
import Testing

struct CNIPluginRunTests {
  @Test func lineRoundTripsAndSplitKeepsTheRest() {
    let run = CNIPluginRun(plugin: "bridge", command: "ADD", seconds: 0.0123456, success: true)
    #expect(run.line == "liftoff-cni-plugin-run plugin=bridge command=ADD seconds=0.012346 ok=true")
    #expect(CNIPluginRun.parse(run.line) == CNIPluginRun(plugin: "bridge", command: "ADD", seconds: 0.012346, success: true))
    // A type with a space or '=' cannot break the line's fields.
    let odd = CNIPluginRun(plugin: "my plugin=x", command: "DEL", seconds: 1, success: false)
    #expect(CNIPluginRun.parse(odd.line)?.plugin == "my_plugin_x")
    let stderr = run.line + "\nliftoff: cni plugin bridge ADD failed: boom\n" + odd.line + "\n"
    let (runs, rest) = CNIPluginRun.split(stderr)
    #expect(runs.count == 2 && runs[1].success == false)
    #expect(rest.trimmingCharacters(in: .whitespacesAndNewlines) == "liftoff: cni plugin bridge ADD failed: boom")
    for bad in ["liftoff-cni-plugin-run plugin=x", "liftoff-cni-plugin-run plugin=x command=ADD seconds=z ok=true", "other"] {
      #expect(CNIPluginRun.parse(bad) == nil, "\(bad)")
    }
  }
}
