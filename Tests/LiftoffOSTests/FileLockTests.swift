// FileLock.lockExclusive(within:): a reader's momentary shared lock is waited out; an owner's is not.
import Foundation
import Glibc
import LiftoffOS
import Testing

@Suite struct FileLockTests {
  @Test func lockExclusiveWaitsOutAReaderButNotAnOwner() throws {
    let dir = try makeTempDir("flock")
    defer { try? FileSystem.removeTree(dir) }
    let reader = try FileLock(path: dir)
    #expect(try reader.lock(exclusive: false, blocking: false))
    let fd = reader.fd
    Thread { usleep(100_000); flock(fd, LOCK_UN) }.start()  // the reader lets go while the taker waits
    let taker = try FileLock(path: dir)
    #expect(try taker.lockExclusive(within: 5))
    taker.unlock()
    withExtendedLifetime(reader) {}

    let owner = try FileLock(path: dir)
    #expect(try owner.lock(exclusive: true, blocking: false))
    #expect(try !FileLock(path: dir).lockExclusive(within: 0.2))
    withExtendedLifetime(owner) {}
  }
}
