import ArgumentParser
import LiftoffCore

@main
struct Liftoff: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "liftoff", abstract: "Liftoff pod executor (stage0).")
}
