// Network namespaces for real (root): created, recognised, refused twice, removed idempotently.
import Foundation
import LiftoffCore
import LiftoffTestSupport
import Testing

@testable import LiftoffNet

@Suite(.needsRoot) struct NetworkNamespaceTests {
  @Test func createUseAndRemove() throws {
    let name = "ltns-" + TestSupport.suffix(8)
    let path = try NetworkNamespace.create(name: name)
    var removed = false
    defer { if !removed { try? NetworkNamespace.remove(path) } }
    #expect(path == "/run/netns/" + name)
    #expect(NetworkNamespace.isNamespace(path))
    // A fresh namespace: only a loopback interface, down; and it is not the host's.
    let links = try TestSupport.run(["/usr/bin/nsenter", "--net=" + path, "/bin/busybox", "ip", "-o", "link"], check: true)
    #expect(links.stdout.split(separator: "\n").count == 1)
    #expect(links.stdout.contains("lo:"))
    let hostNS = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
    let podNS = try TestSupport.run(["/usr/bin/nsenter", "--net=" + path, "/bin/readlink", "/proc/self/ns/net"], check: true)
    #expect(podNS.stdout.trimmingCharacters(in: .whitespacesAndNewlines) != hostNS)
    // This process (and the calling thread) stayed in the host namespace.
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self/ns/net") == hostNS)
    // /run/netns is a shared mount point, as iproute2 makes it.
    let mountinfo = TestSupport.read("/proc/self/mountinfo")
    #expect(mountinfo.split(separator: "\n").contains { $0.contains(" /run/netns ") && $0.contains("shared:") })

    let again = try #require(throws: LiftoffError.self) { try NetworkNamespace.create(name: name) }
    #expect(again.code == .alreadyExists)
    #expect(NetworkNamespace.isNamespace(path))  // the failed attempt did not touch it

    try NetworkNamespace.remove(path)
    removed = true
    #expect(!FileManager.default.fileExists(atPath: path))
    try NetworkNamespace.remove(path)  // idempotent
  }

  @Test func badNamesAreRefused() {
    for bad in ["", "a/b", "..", "."] {
      #expect(throws: LiftoffError.self) { try NetworkNamespace.create(name: bad) }
    }
  }
}
