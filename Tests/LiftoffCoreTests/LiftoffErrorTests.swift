import Testing
@testable import LiftoffCore
@Test func versionIsSet() { #expect(LiftoffVersion.runtimeName == "liftoff") }
