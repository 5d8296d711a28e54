// liftoff-stage1: the per-pod supervisor (rkt's stage1). One process per pod for the pod's whole
// life: it holds the pod's namespaces, builds each app's rootfs, starts and reaps the apps (stage2),
// records their exit, and serves the control socket (LiftoffCore/Stage1Protocol.swift).
//
// Started only by stage0:  liftoff-stage1 --pod-dir <pods/run/ID> --lock-fd <N> [--detach]
//                           [--start-fd <S> --alive-fd <A>]
// where N is the pod directory's flock, inherited across exec; holding it is what makes the pod
// "running". With --start-fd (app sandbox), stage1 sets up the pod's namespaces while stage0 attaches
// the network, then waits for one byte on S before it joins the network namespace and serves its
// socket; EOF instead means stage0 failed or died, and stage1 exits. A is a pipe end stage1 holds
// until then, so that stage0 learns when a stage1 it gave up on is gone.
// Synchronous and single-threaded (no Swift concurrency), so it may fork. Links only LiftoffOS and
// LiftoffCore, with a static stdlib: its memory is paid once per pod.
import Glibc
import LiftoffCore
import LiftoffOS

func stage1Usage() -> Never {
  Stage1Log.error("usage: liftoff-stage1 --pod-dir DIR --lock-fd N")
  exit(2)
}

guard let stage1Arguments = Stage1Arguments(parsing: CommandLine.arguments.dropFirst()) else { stage1Usage() }
let podDir = stage1Arguments.podDir
let lockFD = stage1Arguments.lockFD
let detach = stage1Arguments.detach
let startFD = stage1Arguments.startFD
let aliveFD = stage1Arguments.aliveFD

// `--detach` (mutable pods, `liftoff app sandbox`): the second fork of the double fork. The parent
// returns to stage0 at once; the child, in a session of its own, is re-parented to init when stage0
// exits, so no liftoff or liftoff-cri process is ever the pod's parent.
if detach {
  let pid = fork()
  if pid < 0 {
    Stage1Log.error("fork: \(errnoDescription(errno))")
    exit(1)
  }
  if pid > 0 { _exit(0) }
  _ = setsid()
}

do {
  let supervisor = try Supervisor(podDir: podDir, lockFD: lockFD, startFD: startFD, aliveFD: aliveFD)
  exit(supervisor.run())
} catch {
  Stage1Log.error("\(error)")
  exit(1)
}
