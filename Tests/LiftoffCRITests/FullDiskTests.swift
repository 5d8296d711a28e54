// ENOSPC through the real socket: liftoff-cri's --dir on a small tmpfs of the test's own. A pull that
// does not fit fails with an error that says so and leaves no image; a RunPodSandbox on a full disk
// fails and leaves no sandbox; once space returns (the tmpfs grown, a filler removed) both work.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffCore
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct FullDiskTests {
  @Test(.needsRoot, .needsRegistry) func pullAndSandboxOnAFullDiskFailCleanlyAndWorkOnceSpaceReturns() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let mount = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-enospc-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
    _ = try shell("mount -t tmpfs -o size=600k liftoff-enospc '\(mount)'")
    let server = try CRITestServer(extraArguments: ["--dir", mount + "/state"])
    defer {
      server.stop()
      _ = try? shell("umount -l '\(mount)'; rmdir '\(mount)'")
    }
    try await server.withClients { runtime, images in
      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = image
      do {
        _ = try await images.pullImage(pull)
        Issue.record("a pull into 600 KiB succeeded")
      } catch let error as RPCError {
        // Refused before any download: the layers' sizes in the manifest exceed the free space.
        let m = error.message
        #expect(error.code == .resourceExhausted && m.contains("layers to download") && m.contains("free space"), "\(error)")
      }
      #expect(try await images.listImages(.init()).images.isEmpty)

      // Room for the image; then a filler takes what is left, and a sandbox cannot be made.
      _ = try shell("mount -o remount,size=16m '\(mount)'")
      _ = try await images.pullImage(pull)
      #expect(try await images.listImages(.init()).images.count == 1)
      _ = try shell("dd if=/dev/zero of='\(mount)/filler' bs=64k 2>/dev/null; sync")
      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("full")
      do {
        let id = try await runtime.runPodSandbox(run).podSandboxID
        Issue.record("RunPodSandbox on a full disk succeeded: \(id)")
      } catch let error as RPCError {
        #expect(error.message.lowercased().contains("no space"), "\(error)")
      }
      #expect(try await runtime.listPodSandbox(.init()).items.isEmpty, "a failed sandbox was left")

      // Space back: the same request works, and a container runs.
      try FileManager.default.removeItem(atPath: mount + "/filler")
      let sandbox = try await runtime.runPodSandbox(run).podSandboxID
      let container = try await createAndStart(runtime, sandboxID: sandbox, containerConfig("work", image: image, "sleep 100000"))
      try await #expect(execOutput(runtime, container, "echo alive") == "alive\n")
    }
  }
}

extension FullDiskTests {
  /// The log's disk fills while the container writes: the container is not blocked, the log holds only
  /// whole CRI records (none torn by a short write), and once space returns new lines are written again.
  @Test(.needsRoot, .needsRegistry) func logsOnAFullDiskDropWholeRecordsAndResume() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let logs = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-enospc-logs-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
    _ = try shell("mount -t tmpfs -o size=256k liftoff-enospc-logs '\(logs)'")
    let server = try CRITestServer()
    defer {
      server.stop()
      _ = try? shell("umount -l '\(logs)'; rmdir '\(logs)'")
    }
    try await server.withClients { runtime, images in
      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = image
      _ = try await images.pullImage(pull)
      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("full-logs")
      run.config.logDirectory = logs + "/pod"
      let sandbox = try await runtime.runPodSandbox(run).podSandboxID
      // Lines of ~100 bytes, 50 a second; the count also goes to a file, to see the app move on.
      let pad = String(repeating: "x", count: 80)
      let script = "i=0; while true; do i=$((i+1)); echo line-$i-\(pad); echo $i > /tmp/count; usleep 20000; done"
      let container = try await createAndStart(
        runtime, sandboxID: sandbox, containerConfig("writer", image: image, script, logPath: "writer.log"))
      let log = logs + "/pod/writer.log"
      func lines() -> [Substring] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n", omittingEmptySubsequences: false)
      }
      // The app rewrites the file 50 times a second (`cat` may catch it empty): a few tries.
      func count() async throws -> Int {
        for _ in 0..<10 {
          if let n = Int(try await execOutput(runtime, container, "cat /tmp/count").trimmingCharacters(in: .whitespacesAndNewlines)) { return n }
        }
        return -1
      }
      for _ in 0..<100 where lines().count < 5 { try await Task.sleep(for: .milliseconds(50)) }
      #expect(lines().count >= 5, "the container's first lines are not in its log")

      // Fill the disk; the app goes on writing (its pipe is still read), the log stops growing (once
      // the rest of its last tmpfs page, which is its own, is used: 1.5 s of lines is more than 4 KiB).
      _ = try shell("dd if=/dev/zero of='\(logs)/filler' bs=4k 2>/dev/null; sync")
      try await Task.sleep(for: .milliseconds(1500))
      let full = try await count()
      let sizeFull = (try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? 0
      try await Task.sleep(for: .seconds(1))
      let later = try await count()
      #expect(later > full + 20, "the app did not go on while the log's disk was full: \(full) -> \(later)")
      let sizeStill = (try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? 0
      #expect(sizeStill == sizeFull, "the log grew on a full disk: \(sizeFull) -> \(sizeStill)")

      // Space back: lines newer than the ones dropped appear.
      try FileManager.default.removeItem(atPath: logs + "/filler")
      var resumed = false
      for _ in 0..<100 {
        if lines().contains(where: { $0.contains("line-\(later + 1)-") || $0.contains("line-\(later + 2)-") }) {
          resumed = true
          break
        }
        try await Task.sleep(for: .milliseconds(50))
      }
      #expect(resumed, "no line after line-\(later) reached the log once space returned")

      // Every line is a whole CRI record: TIMESTAMP STREAM TAG line-N-<pad>; the numbers increase.
      var last = 0
      var gaps = 0
      let all = lines().dropLast()  // the file ends with a newline
      for line in all {
        let f = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        let n = f.count == 4 ? Int(f[3].dropFirst(5).prefix { $0 != "-" }) : nil
        let ok = f.count == 4 && f[0].count >= 20 && f[0].hasSuffix("Z") && f[1] == "stdout" && f[2] == "F" && n != nil
          && f[3] == "line-\(n!)-\(pad)"
        #expect(ok, "a torn or foreign record in the log: \(line.prefix(200))")
        guard ok, let n else { continue }
        #expect(n > last, "line \(n) after \(last)")
        if n > last + 1 { gaps += 1 }
        last = n
      }
      #expect(gaps >= 1, "no lines were dropped: the disk never filled?")
    }
  }
}
