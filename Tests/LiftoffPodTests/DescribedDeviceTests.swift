// `app add --device path=…`: a device node described in full (as CDI specs describe them), no host node read.
import LiftoffCore
import Testing

@testable import LiftoffPod

@Suite struct DescribedDeviceTests {
  @Test func everyKeyIsReadAndChecked() throws {
    let d = try PodPreparer.device("path=/dev/gpu0,type=c,major=195,minor=0,mode=660,uid=0,gid=44,access=rw", app: "a")
    #expect(d == AppDevice(path: "/dev/gpu0", type: "c", major: 195, minor: 0, fileMode: 0o660, uid: 0, gid: 44, permissions: "rw"))
    #expect(try PodPreparer.device("path=/dev/x,type=b,major=7,minor=1,mode=600,uid=1,gid=1,access=", app: "a").permissions == "")
    for (spec, word) in [
      ("path=/dev/x,type=c,major=1,minor=3,mode=666,uid=0,gid=0", "exactly the keys"),
      ("path=/dev/x,type=c,major=1,minor=3,mode=666,uid=0,gid=0,access=rw,extra=1", "exactly the keys"),
      ("path=/dev/x,path=/dev/y,type=c,major=1,minor=3,mode=666,uid=0,gid=0,access=rw", "distinct"),
      ("path=/etc/x,type=c,major=1,minor=3,mode=666,uid=0,gid=0,access=rw", "under /dev"),
      ("path=/dev/../etc/x,type=c,major=1,minor=3,mode=666,uid=0,gid=0,access=rw", "under /dev"),
      ("path=/dev/x,type=p,major=1,minor=3,mode=666,uid=0,gid=0,access=rw", "type c or b"),
      ("path=/dev/x,type=c,major=1,minor=3,mode=666,uid=0,gid=0,access=rwx", "subset of rwm"),
      ("path=/dev/x,type=c,major=-1,minor=3,mode=666,uid=0,gid=0,access=rw", "major is not a number"),
      ("path=/dev/x,type=c,major=1,minor=3,mode=4755,uid=0,gid=0,access=rw", "at most 0777"),
      ("path=/dev/x,type=c,major=1,minor=3,mode=9,uid=0,gid=0,access=rw", "mode is not a number"),
    ] {
      #expect { try PodPreparer.device(spec, app: "a") } throws: { "\($0)".contains(word) }
    }
  }
}
