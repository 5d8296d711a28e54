// Keeping a long-lived, mostly idle process (stage1) small: after start-up, the pages of its own
// executable that start-up touched are dropped from its page tables (they are clean, file-backed
// and re-read from the page cache on the next use), and freed heap goes back to the kernel. What a
// waiting stage1 keeps mapped is then what its loop uses. See hack/bench-pod.sh for the effect.
import CLinux
import Glibc

public enum MemoryTrim {
  /// Drops the calling process's resident pages of its executable's code (`r-xp` mappings only:
  /// read-only data such as relocated RELRO pages is private and modified — dropping it would
  /// revert it to the file's bytes). Safe to call at any time.
  public static func dropExecutablePages() {
    guard let exe = try? FileSystem.readString("/proc/self/maps") else { return }
    let selfPath = (try? Mounts.canonical("/proc/self/exe")) ?? ""
    for line in exe.split(separator: "\n") {
      let f = line.split(separator: " ", omittingEmptySubsequences: true)
      guard f.count >= 6, String(f[5]) == selfPath, f[1] == "r-xp" else { continue }
      let range = f[0].split(separator: "-")
      guard range.count == 2, let lo = UInt(range[0], radix: 16), let hi = UInt(range[1], radix: 16),
        let p = UnsafeMutableRawPointer(bitPattern: lo)
      else { continue }
      _ = liftoff_madvise_dontneed(p, Int(hi - lo))
    }
    liftoff_malloc_trim()
  }
}
