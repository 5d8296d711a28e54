// The StreamingBackend for real containers (a CRI container is an app of its sandbox's mutable pod,
// named by its 64-hex ID):
//   exec         spawns liftoff-enter with the invocation `liftoff enter --app <container id> [--tty]
//                <pod> -- CMD…` would exec (PodManager.enterInvocation: LIFTOFF_NSENTER_* as its whole
//                environment; no flags rendered here, one process start-up less), by posix_spawn from
//                C, never fork: liftoff-cri is multi-threaded. The entered command gets the app's
//                namespaces, root, cgroup, user, groups, capabilities, no_new_privs, seccomp, env and
//                working dir (CLinux/nsenter.c). With a tty, liftoff-cri holds a pty's master (resize
//                = TIOCSWINSZ on it, then SIGWINCH to liftoff-enter); the slave is the spawned
//                process's stdio but not its controlling terminal. Inside, liftoff-enter opens a pty
//                of the container's own devpts for the command and relays (flavor default), or hands
//                the command the slave itself (fly).
//   port-forward connects to 127.0.0.1:PORT inside the pod's network namespace: the socket is created
//                on a throwaway pthread that joined the namespace (setns(CLONE_NEWNET) is per thread,
//                so nothing else in liftoff-cri changes namespace); the connection itself is made from
//                any thread. Host-network pods: the host's 127.0.0.1.
//   attach       connects to stage1's attach socket of the app (apps/<id>/attach.sock, framing in
//                LiftoffCore/AttachProtocol.swift): output of the app to the client, the client's
//                stdin and resizes to the app, until the app exits, the client leaves, or (as in
//                containerd) the client's stdin ends when it attached with stdin to a stdin app.
// Nothing here outlives its session as a child of liftoff-cri: a cancelled session (client gone,
// server shutdown) SIGKILLs the liftoff-enter process group, and the entered command dies with it
// (its parent-death signal). The container itself is never a child of liftoff-cri.
import CLinux
import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffStreaming

public final class ContainerStreamingBackend: StreamingBackend {
  /// How long an attach session that half-closed waits for stage1's close.
  static let halfCloseDeadline: Duration = .seconds(2)
  /// The `liftoff-enter` executable.
  public let enterPath: String
  /// The Liftoff state directory (`--dir`).
  public let dataDir: String

  public init(enterPath: String, dataDir: String) {
    self.enterPath = enterPath
    self.dataDir = dataDir
  }

  /// The running pod that holds container `id` (its full ID: an app name).
  func locateRunning(containerID id: String) throws -> (podID: String, manifest: PodManifest) {
    let store = try PodStore(root: dataDir)
    for (podID, place) in store.all() where place == .run {
      guard let manifest = try? store.readManifest(podID, at: .run), manifest.app(named: id) != nil else { continue }
      guard let state = store.readAppState(podID, at: .run, app: id), state.isRunning else {
        throw LiftoffError(.failedPrecondition, "container \(id) is not running")
      }
      return (podID, manifest)
    }
    throw LiftoffError.notFound("container \(id) not found among running pods")
  }

  // MARK: exec

  public func exec(containerID: String, cmd: [String], tty: Bool, io: StreamIO) async throws -> Int32 {
    guard !cmd.isEmpty, !cmd[0].isEmpty else { throw LiftoffError.invalidArgument("exec: cmd is empty") }
    let (podID, _) = try locateRunning(containerID: containerID)
    let (env, argv) = try PodManager(store: try PodStore(root: dataDir)).enterInvocation(podID, app: containerID, command: cmd, tty: tty)
    return try await HostProcessBackend.runProcess(
      [enterPath] + argv.dropFirst(), tty: tty, io: io, controllingTTY: false, signalResize: tty, environment: env)
  }

  // MARK: attach

  public func attach(containerID: String, tty: Bool, io: StreamIO) async throws {
    let (podID, manifest) = try locateRunning(containerID: containerID)
    guard let app = manifest.app(named: containerID) else { throw LiftoffError.notFound("container \(containerID) not found") }
    // The container's tty decides what arrives (kubectl attach without -t to a tty container is
    // common): a tty session has no stderr stream, so a non-tty app's stderr joins stdout there.
    let store = try PodStore(root: dataDir)
    let dir = "\(store.path(.run, podID))/apps/\(containerID)"
    let fd: Int32
    do { fd = try UnixSocket.connect(dir: dir, name: AttachFrame.socketName) } catch {
      throw LiftoffError(.failedPrecondition, "container \(containerID) cannot be attached to (its output does not pass through stage1)", cause: error)
    }
    let writer = FDWriter(fd: fd)
    let pump = FDReadPump(fd: fd)
    defer { close(fd) }
    do {
      try await withTaskCancellationHandler {
        try await withThrowingTaskGroup(of: Void.self) { group in
          let wantsStdin = io.stdin != nil && app.stdin
          if wantsStdin { try await writer.write(AttachFrame.helloWithStdin.encoded) }
          if let input = io.stdin, wantsStdin {
            group.addTask {
              for await chunk in input {
                var offset = 0
                while offset < chunk.count {
                  let n = min(AttachFrame.maxPayload, chunk.count - offset)
                  try await writer.write(AttachFrame.stdin(Array(chunk[offset..<offset + n])).encoded)
                  offset += n
                }
              }
              try await writer.write(AttachFrame.stdinClosed.encoded)
              // As containerd does: a stdinOnce app without a tty sees its stdin close, and the
              // session lasts until the app ends (its exit frame), so output it writes after that
              // still arrives. Otherwise the client's stdin ending ends its session and the app keeps
              // running: half-close, and stage1 sends what it has queued for this client, then closes
              // (the pump's EOF ends the session; a stage1 of level 3 or older closes at once). The
              // deadline is for a stage1 that never answers; the session's end cancels it.
              guard !(app.stdinOnce && !app.tty) else { return }
              shutdown(fd, Int32(SHUT_WR))
              do { try await Task.sleep(for: Self.halfCloseDeadline) } catch { return }
              shutdown(fd, Int32(SHUT_RDWR))
            }
          }
          if let resize = io.resize, app.tty {
            group.addTask {
              for await size in resize { try await writer.write(AttachFrame.resize(rows: size.height, cols: size.width).encoded) }
            }
          }
          // Until the app ends (exit frame) or stage1 closes the socket. The pump always runs to its
          // end (the socket shut down), so that its thread is done before the fd closes.
          var buffer: [UInt8] = []
          var exited = false
          for await chunk in pump.chunks {
            buffer += chunk
            var offset = 0
            while !exited, let (frame, used) = try AttachFrame.decode(buffer[offset...], direction: .toClient) {
              offset += used
              switch frame {
              case .stdout(let b): try await io.stdout?.write(b)
              case .stderr(let b): try await (io.stderr ?? (tty ? io.stdout : nil))?.write(b)
              case .exit:
                exited = true
                shutdown(fd, Int32(SHUT_RDWR))
              default: break
              }
            }
            buffer.removeFirst(offset)
            pump.next()
          }
          group.cancelAll()
        }
      } onCancel: {
        shutdown(fd, Int32(SHUT_RDWR))
      }
    } catch {
      shutdown(fd, Int32(SHUT_RDWR))
      for await _ in pump.chunks { pump.next() }
      await writer.stopAndWait()
      throw error
    }
    shutdown(fd, Int32(SHUT_RDWR))
    await writer.stopAndWait()
  }

  // MARK: port-forward

  public func portForward(podSandboxID: String, port: UInt16, stream: PortForwardStream) async throws {
    let store = try PodStore(root: dataDir)
    let (podID, place) = try store.resolve(podSandboxID)
    guard place == .run, PodManager(store: store).isLocked(podID, .run) else {
      throw LiftoffError(.failedPrecondition, "pod sandbox \(podSandboxID) is not running")
    }
    let manifest = try store.readManifest(podID, at: .run)
    if manifest.network.mode != .host, let netns = manifest.network.netnsPath {
      let s = liftoff_socket_in_netns(netns)
      guard s >= 0 else {
        throw LiftoffError(
          .internal, "pod sandbox \(podID): cannot open a socket in \(netns)",
          cause: SystemCallError("setns", errno: -s, path: netns))
      }
      try await HostProcessBackend.forwardLoopback(port: port, socket: s, stream: stream)
    } else {
      try await HostProcessBackend.forwardLoopback(port: port, stream: stream)
    }
  }
}
