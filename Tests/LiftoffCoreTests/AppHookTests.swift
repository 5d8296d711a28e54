// App hooks in pod.json and the `--hook STAGE=JSON` flag: an app without hooks writes no "hooks" key
// (so that older builds, which read no such key, see the same manifest), one with hooks reads back the
// same, and bad hooks are refused naming what is wrong.
import LiftoffCore
import Testing

struct AppHookTests {
  func app(_ hooks: [AppHook]) -> AppManifest {
    var a = AppManifest(name: "a", image: AppImage(name: "i", id: "", layerDirs: ["/l"]), exec: ["/bin/true"], env: ["PATH=/bin"], capabilities: [])
    a.hooks = hooks
    return a
  }

  @Test func noHooksNoKeyAndHooksRoundTrip() throws {
    #expect(app([]).json["hooks"] == nil)
    let hooks = [
      AppHook(stage: .createRuntime, path: "/bin/a"),
      AppHook(stage: .startContainer, path: "/bin/b", args: ["b", "x"], env: ["K=V"], timeoutSeconds: 3, name: "CDI device v.io/c=d"),
    ]
    let a = app(hooks)
    let back = try AppManifest(json: JSON.parse(a.json.serialized()))
    #expect(back.hooks == hooks && back == a)
    #expect(back.hookBudgetSeconds == AppHook.defaultTimeoutSeconds + 3)
    #expect(hooks[0].argv == ["/bin/a"] && hooks[1].argv == ["b", "x"])
  }

  @Test func flagAndBadHooks() throws {
    let h = try AppHook(flag: #"poststop={"path": "/bin/x", "args": ["x", "1"], "timeout": 2}"#)
    #expect(h == AppHook(stage: .poststop, path: "/bin/x", args: ["x", "1"], timeoutSeconds: 2))
    for (flag, word) in [
      (#"later={"path": "/x"}"#, "expected STAGE=JSON"), (#"poststop={"path": "x"}"#, "is not absolute"),
      (#"poststop={"path": "/x", "timeout": -1}"#, "timeout -1"), (#"poststop={"path": "/x", "env": ["=1"]}"#, "NAME=VALUE"),
      (#"poststop=[1]"#, "not an object"), (#"poststop={"#, "--hook poststop"),
    ] {
      #expect { try AppHook(flag: flag) } throws: { ($0 as? LiftoffError)?.code == .invalidArgument && "\($0)".contains(word) }
    }
    var bad = app([]).json.objectValue!
    bad.append(("hooks", .array([.object([("stage", .string("createRuntime")), ("path", .string("rel"))])])))
    #expect { try AppManifest(json: .object(bad)) } throws: { "\($0)".contains("app a hooks[0]") && "\($0)".contains("is not absolute") }
  }

  @Test func stateJSON() {
    let s = OCIState.json(id: "c", status: "created", pid: 42, bundle: "/b", annotations: ["k": "v"]).serialized()
    #expect(s == #"{"ociVersion":"1.2.0","id":"c","status":"created","pid":42,"bundle":"/b","annotations":{"k":"v"}}"#)
    #expect(!OCIState.json(id: "c", status: "creating", pid: nil, bundle: "/b", annotations: [:]).serialized().contains("pid"))
  }
}
