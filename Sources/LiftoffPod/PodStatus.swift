// What `liftoff list` and `liftoff status` report: one stable JSON document (`--format json`).
import LiftoffCore

public struct PodStatus: Codable, Sendable, Equatable {
  /// `embryo`, `preparing`, `prepared`, `running`, `exited`, `exited-garbage`, `garbage`.
  public var state: String
  public var id: String
  public var createdAt: String?
  public var flavor: String?
  public var hostname: String?
  public var network: String?
  /// stage1's pid while the pod runs.
  public var pid: Int32?
  /// The pod's exit status once exited: the first failing app's, else 0.
  public var exitCode: Int32?
  /// The pod's IPs on its CNI network, primary first (nil without one).
  public var ips: [String]?
  public var apps: [AppStatus]

  enum CodingKeys: String, CodingKey {
    case state, id, createdAt = "created_at", flavor, hostname, network, pid, exitCode = "exit_code", ips, apps
  }
}

public struct AppStatus: Codable, Sendable, Equatable {
  public var name: String
  public var image: String
  public var imageID: String
  /// `created`, `running`, `exited`.
  public var state: String
  public var pid: Int32?
  public var startedAt: String?
  public var finishedAt: String?
  public var exitCode: Int32?
  public var signal: Int32?
  public var reason: String?
  public var message: String?

  enum CodingKeys: String, CodingKey {
    case name, image, imageID = "image_id", state, pid, startedAt = "started_at", finishedAt = "finished_at",
      exitCode = "exit_code", signal, reason, message
  }
}
