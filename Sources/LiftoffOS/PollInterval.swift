// Waiting for another process to show progress on disk (stage1's control socket appearing, an app's
// state.json replaced): checks half a millisecond apart at first, a quarter further apart each time up
// to a cap, so a quick change is seen within a fraction of a millisecond and a slow one costs few
// wake-ups. (A fixed 5 ms sleep cost `liftoff app sandbox` 2.5 ms on average; an inotify watch instead
// costs ~16 ms when its descriptor closes — the kernel waits for an SRCU grace period.)
import Glibc

public struct PollInterval {
  private var next: Double
  private let cap: Double

  public init(first: Double = 0.000_5, cap: Double = 0.01) {
    next = first
    self.cap = cap
  }

  public mutating func sleep() {
    usleep(UInt32(next * 1_000_000))
    next = min(next * 1.25, cap)
  }
}
