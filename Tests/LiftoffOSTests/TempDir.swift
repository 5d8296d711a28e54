import Glibc
import LiftoffOS

/// A unique temporary directory, removed by the caller with `FileSystem.removeTree`.
func makeTempDir(_ tag: String) throws -> String {
  let p = "/tmp/liftoff-ostest-\(tag)-\(Random.hex(bytes: 6))"
  try FileSystem.makeDirectories(p)
  return p
}
