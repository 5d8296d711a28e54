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

  /// Drops the resident pages of every file-backed mapping that holds no private (copied-on-write)
  /// page — code and read-only data of the executable and its shared libraries — from the calling
  /// process's page tables. Such pages are byte-for-byte the file's, so a later touch re-reads them
  /// from the page cache; a mapping with any private page is left alone (dropping it would revert
  /// relocations). For a long-lived daemon (liftoff-cri) between bursts of requests. Safe from any
  /// thread; returns the number of KiB it released.
  @discardableResult
  public static func dropCleanFileMappings() -> Int {
    guard let smaps = try? FileSystem.readString("/proc/self/smaps") else { return 0 }
    var released = 0
    var current: (lo: UInt, hi: UInt, rss: Int, anonymous: Int, eligible: Bool)?
    func flush() {
      guard let c = current, c.eligible, c.anonymous == 0, c.rss > 0, let p = UnsafeMutableRawPointer(bitPattern: c.lo)
      else { return }
      if liftoff_madvise_dontneed(p, Int(c.hi - c.lo)) == 0 { released += c.rss }
    }
    for line in smaps.split(separator: "\n") {
      let f = line.split(separator: " ", omittingEmptySubsequences: true)
      guard let first = f.first else { continue }
      if first.contains("-"), f.count >= 5, !first.hasSuffix(":") {
        flush()
        let range = first.split(separator: "-")
        let perms = f[1]
        let path = f.count >= 6 ? String(f[5]) : ""
        guard range.count == 2, let lo = UInt(range[0], radix: 16), let hi = UInt(range[1], radix: 16) else {
          current = nil
          continue
        }
        // Private, not writable, backed by a file (not [heap], [stack], [vdso], …).
        let eligible = path.hasPrefix("/") && !perms.contains("w") && perms.hasSuffix("p") && !perms.hasPrefix("-")
        current = (lo, hi, 0, 0, eligible)
      } else if first == "Rss:", f.count >= 2 {
        current?.rss = Int(f[1]) ?? 0
      } else if first == "Anonymous:", f.count >= 2 {
        current?.anonymous = Int(f[1]) ?? 1
      }
    }
    flush()
    liftoff_malloc_trim()
    return released
  }
}

