// Blocking work (a child's whole run, a layer unpacked, waitpid) on a thread of its own, off the Swift
// concurrency pool, whose threads are only as many as the CPUs: a few blocked there would stall every
// RPC. A plain pthread, not Foundation's Thread: LiftoffOS does not link Foundation (stage1 pays for
// what it links, once per pod).
import Glibc

/// Runs `body` on a new thread (8 MiB of stack, as the main thread) and returns or throws what it did.
public func runOnThread<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
  let result: Result<T, E> = await withCheckedContinuation { (c: CheckedContinuation<Result<T, E>, Never>) in
    startThread { c.resume(returning: Result { () throws(E) -> T in try body() }) }
  }
  return try result.get()
}

/// Starts a detached thread running `body` (with `stackSize` bytes of stack); when no thread can be
/// created (EAGAIN: out of threads or memory), runs it on the calling thread instead.
public func startThread(stackSize: Int = 8 << 20, _ body: @escaping @Sendable () -> Void) {
  final class Job: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
  }
  let job = Unmanaged.passRetained(Job(body))
  var attr = pthread_attr_t()
  pthread_attr_init(&attr)
  defer { pthread_attr_destroy(&attr) }
  pthread_attr_setstacksize(&attr, stackSize)
  pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
  var thread = pthread_t()
  let rc = pthread_create(&thread, &attr, { raw in
    Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
    return nil
  }, job.toOpaque())
  if rc != 0 { job.takeRetainedValue().body() }
}
