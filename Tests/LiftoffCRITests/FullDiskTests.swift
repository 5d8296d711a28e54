// ENOSPC through the real socket: liftoff-cri's --dir on a small tmpfs of the test's own. A pull that
// does not fit fails with an error that says so and leaves no image; a RunPodSandbox on a full disk
// fails and leaves no sandbox; once space returns (the tmpfs grown, a filler removed) both work.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffCore
import Testing

@Suite(.serialized) struct FullDiskTests {
  @Test func pullAndSandboxOnAFullDiskFailCleanlyAndWorkOnceSpaceReturns() async throws {
    guard getuid() == 0, let env = ImageServiceTests.registry() else { return }
    let image = "\(env["LIFTOFF_TEST_REGISTRY"]!)/liftoff-test/busybox:latest"
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
        #expect(error.message.contains("free space"), "\(error)")
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
