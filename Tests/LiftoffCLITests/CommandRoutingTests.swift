// The two ways a `liftoff` command line is taken apart besides ArgumentParser's: the hand-parsed fast
// path of the verbs liftoff-cri runs (app add|start|stop|rm, stop, rm), which must answer exactly as
// the parsed commands do and leave every other shape to ArgumentParser; and `fetch` / `image …`, which
// run in liftoff-image beside liftoff.
import Foundation
import Testing

struct CommandRoutingTests {
  let dir = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-routing-\(getpid())").path
  let pod = String(repeating: "ab", count: 32)

  @Test func fastPathVerbsAnswerAsTheParsedCommands() throws {
    // Plain shapes (fast path), `=` forms, flags in another order, several ids.
    let lines: [[String]] = [
      ["--dir", dir, "app", "start", "--app", "a", pod],
      ["--dir=\(dir)", "app", "start", "--app=a", pod],
      ["--dir", dir, "app", "stop", pod, "--timeout", "3", "--app", "a"],
      ["--dir", dir, "app", "rm", "--app", "a", pod],
      ["--dir", dir, "--cni-default-network", "false", "stop", "--force", pod],
      ["--dir", dir, "stop", "--timeout", "2", pod],
      ["--dir", dir, "rm", pod],
    ]
    for line in lines {
      let (status, out, err) = try runLiftoff(line)
      #expect(status != 0, "\(line)")
      #expect(out.isEmpty, "\(line): \(out)")
      #expect(err.contains("pod \(pod) not found") || err.contains("\(pod): pod \(pod) not found"), "\(line): \(err)")
    }
    // The same refusal through ArgumentParser (options after the subcommand) has the same status.
    let (fast, _, _) = try runLiftoff(["--dir", dir, "app", "start", "--app", "a", pod])
    let (parsed, _, _) = try runLiftoff(["app", "start", "--dir", dir, "--app", "a", pod])
    #expect(fast == parsed)
  }

  @Test func linesNotInThePlainShapeGetArgumentParsersAnswers() throws {
    let cases: [([String], String)] = [
      (["--dir", dir, "app", "start", "--app", "a", "--bogus", pod], "Unknown option '--bogus'"),
      (["--dir", dir, "app", "stop", "--app", "a", "--timeout", "soon", pod], "soon"),
      (["--dir", dir, "app", "start", pod], "Missing expected argument '--app <app>'"),
      (["--dir", dir, "app", "start", "--app", "a", "--app", "b", pod], "pod \(pod) not found"),  // last --app wins there
      (["--dir", dir, "--cni-default-network", "maybe", "rm", pod], "maybe"),
      (["--dir", dir, "rm"], "give a pod UUID or --uuid-file FILE"),  // ids are optional with --uuid-file
      (["--dir", dir, "app", "sandbox", "--volume", "x:/x"], "Unknown option '--volume'"),
      (["--dir", dir, "app", "sandbox", "--stop-timeout", "soon"], "soon"),
    ]
    for (line, fragment) in cases {
      let (status, _, err) = try runLiftoff(line)
      #expect(status != 0, "\(line)")
      #expect(err.contains(fragment), "\(line): \(err)")
    }
    // Both paths check the values themselves the same way.
    for line in [["--dir", dir, "app", "sandbox", "--stage1", "nope"], ["app", "sandbox", "--dir", dir, "--stage1", "nope"]] {
      let (status, _, err) = try runLiftoff(line)
      #expect(status != 0, "\(line)")
      #expect(err.contains("--stage1 nope: expected default or fly"), "\(line): \(err)")
    }
    let (status, out, _) = try runLiftoff(["app", "stop", "--help"])
    #expect(status == 0)
    #expect(out.contains("USAGE: liftoff app stop"))
  }

  @Test func fetchAndImageRunInLiftoffImage() throws {
    let (status, out, err) = try runLiftoff(["fetch", "--help"])
    #expect(status == 0, "\(err)")
    #expect(out.contains("--no-progress"), "the real fetch command's help: \(out)")
    let (lstatus, lout, _) = try runLiftoff(["help", "image", "list"])
    #expect(lstatus == 0)
    #expect(lout.contains("USAGE: liftoff image list"))
    let (estatus, eout, eerr) = try runLiftoff(["--dir", dir, "image", "list", "--format", "json"])
    #expect(estatus == 0, "\(eerr)")
    #expect(eout.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" || eout.contains("[]"), "\(eout)")
    // Every global flag is accepted before any command, as scripts pass one set to all of them.
    let globals = ["--dir", dir, "--cni-conf-dir", "/nonexistent", "--cni-bin-dir", "/nonexistent", "--cni-default-network", "false"]
    let (gstatus, gout, gerr) = try runLiftoff(globals + ["image", "list", "--format", "json"])
    #expect(gstatus == 0, "\(gerr)")
    #expect(gout.contains("["), "\(gout)")
    for command in [["fetch"], ["app", "sandbox"]] {
      let (hstatus, hout, herr) = try runLiftoff(globals + command + ["--help"])
      #expect(hstatus == 0, "\(command): \(herr)")
      #expect(hout.contains("USAGE: liftoff \(command.joined(separator: " "))"), "\(hout)")
    }
    let (bstatus, _, berr) = try runLiftoff(["image", "bogus"])
    #expect(bstatus != 0)
    #expect(berr.contains("bogus"))
    // All three of liftoff-image's commands, and help about each, reach it (ImageCommands.owns).
    for name in ["fetch", "image", "trust"] {
      for line in [[name, "--help"], ["help", name]] {
        let (s, o, e) = try runLiftoff(line)
        #expect(s == 0 && o.contains("USAGE: liftoff \(name)"), "\(line): \(o) \(e)")
      }
    }
  }

  @Test func withoutLiftoffImageBesideItFetchSaysWhatIsMissing() throws {
    let lonely = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-lonely-\(getpid())")
    try? FileManager.default.removeItem(at: lonely)
    try FileManager.default.createDirectory(at: lonely, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: lonely) }
    let copy = lonely.appendingPathComponent("liftoff").path
    try FileManager.default.copyItem(atPath: liftoffBinary(), toPath: copy)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: copy)
    p.arguments = ["fetch", "busybox"]
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    #expect(p.terminationStatus != 0)
    #expect(text.contains("\(lonely.path)/liftoff-image"), "\(text)")
    #expect(text.contains("fetch and image commands live there"), "\(text)")
  }
}
