// `liftoff run|prepare --spec-file`: the pod as one JSON request (PodRequest) builds the same pod as
// the flags, runs it the same way, and bad input is refused naming what is wrong with nothing made.
import Foundation
import LiftoffCore
import LiftoffPod
import LiftoffTestSupport
import Testing

@Suite(.serialized, .needsRoot)
struct PodSpecFileTests {
  /// The manifest without what differs between two pods made alike (IDs, times, netns path).
  static func comparable(_ manifest: String) -> [String] {
    manifest.split(separator: "\n").map(String.init).filter {
      !$0.contains("\"id\"") && !$0.contains("\"createdAt\"") && !$0.contains("\"netnsPath\"")
    }
  }

  @Test func prepareFromJSONMakesThePodTheFlagsMake() throws {
    let f = try PodFixture("spec")
    defer { f.tearDown() }
    let spec = f.base + "/pod.json"
    try #"{"pod":{"net":"none","hostname":"h1","annotations":{"a":"b"},"stopTimeoutSeconds":3},"apps":[{"image":"\#(f.rootfs)","name":"one","exec":"/bin/sh","args":["-c","exit 7"],"env":["A=1"]}]}"#
      .write(toFile: spec, atomically: true, encoding: .utf8)
    let fromJSON = try f.liftoff(["prepare", "--spec-file", spec])
    fromJSON.check()
    let fromFlags = try f.liftoff([
      "prepare", "--hostname", "h1", "--annotation", "a=b", "--stop-timeout", "3", f.rootfs, "--name", "one", "--exec", "/bin/sh",
      "--set-env", "A=1", "--", "-c", "exit 7",
    ])
    fromFlags.check()
    let a = fromJSON.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    let b = fromFlags.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(PodID.isValid(a) && PodID.isValid(b))
    let ma = try f.liftoff(["cat-manifest", a]).stdout
    let mb = try f.liftoff(["cat-manifest", b]).stdout
    #expect(Self.comparable(ma) == Self.comparable(mb))
    #expect(ma.contains("\"one\"") && ma.contains("A=1"))
    #expect(try f.liftoff(["run-prepared", a]).status == 7)
  }

  @Test func runFromJSONExitsWithTheAppsStatus() throws {
    let f = try PodFixture("specrun")
    defer { f.tearDown() }
    let spec = f.base + "/pod.json"
    try #"{"apps":[{"image":"\#(f.rootfs)","exec":"/bin/sh","args":["-c","exit 9"]}]}"#
      .write(toFile: spec, atomically: true, encoding: .utf8)
    let r = try f.liftoff(["run", "--spec-file", spec])
    #expect(r.status == 9, "\(r.stderr)")
  }

  @Test func badRequestsNameTheProblemAndMakeNothing() throws {
    let f = try PodFixture("specbad")
    defer { f.tearDown() }
    let cases: [(String, [String], String)] = [
      (#"{"apps":[]}"#, [], "apps: a pod needs at least one app"),
      (#"{"apps":[{"image":"\#(f.rootfs)","exec":1}]}"#, [], "apps[0].exec: expected a string"),
      (#"{"pod":{"nett":"none"},"apps":[{"image":"\#(f.rootfs)"}]}"#, [], "pod.nett: unknown key"),
      (#"{"pod":{"net":"none","portMappings":[{"hostPort":80,"containerPort":80}]},"apps":[{"image":"\#(f.rootfs)","exec":"/bin/true"}]}"#, [],
       "need a cni network"),
      (#"{"v":9,"apps":[{"image":"\#(f.rootfs)"}]}"#, [], "newer"),
      (#"{"apps":[{"image":"\#(f.rootfs)","exec":"/bin/true"}]}"#, ["--net", "host"], "--net cannot be given too"),
      (#"{"apps":[{"image":"\#(f.rootfs)","exec":"/bin/true"}]}"#, [f.rootfs], "an image cannot be given too"),
      (#"{"apps":[{"image":"\#(f.base)/nope","exec":"/bin/true"}]}"#, [], "not found"),
      ("{", [], "--spec-file"),
    ]
    for (i, (text, extra, word)) in cases.enumerated() {
      let spec = f.base + "/bad\(i).json"
      try text.write(toFile: spec, atomically: true, encoding: .utf8)
      for verb in ["prepare", "run"] {
        let r = try f.liftoff([verb, "--spec-file", spec] + extra)
        #expect(r.status != 0 && r.stderr.contains(word), "\(verb) \(text): \(r.stderr)")
      }
    }
    #expect(try f.list().isEmpty)
    let missing = try f.liftoff(["prepare", "--spec-file", f.base + "/absent.json"])
    #expect(missing.status != 0 && missing.stderr.contains("absent.json"), "\(missing.stderr)")
  }
}
