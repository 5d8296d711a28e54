// appc App Container Image manifest, spec v0.8.11 (github.com/appc/spec, spec/aci.md): the
// `manifest` file at the root of an ACI (a tar with `manifest` and `rootfs/`).

public struct ACINameValue: Codable, Sendable, Equatable {
  public var name: String
  public var value: String
  public init(name: String, value: String) { self.name = name; self.value = value }
  enum CodingKeys: String, CodingKey { case name, value }
}

public struct ACIPort: Codable, Sendable, Equatable {
  public var name: String
  public var `protocol`: String
  public var port: Int
  public var count: Int?
  public var socketActivated: Bool?
  public init(name: String, protocol: String, port: Int, count: Int? = nil, socketActivated: Bool? = nil) {
    self.name = name
    self.protocol = `protocol`
    self.port = port
    self.count = count
    self.socketActivated = socketActivated
  }
  enum CodingKeys: String, CodingKey { case name, `protocol`, port, count, socketActivated }
}

public struct ACIMountPoint: Codable, Sendable, Equatable {
  public var name: String
  public var path: String
  public var readOnly: Bool?
  public init(name: String, path: String, readOnly: Bool? = nil) { self.name = name; self.path = path; self.readOnly = readOnly }
  enum CodingKeys: String, CodingKey { case name, path, readOnly }
}

public struct ACIApp: Codable, Sendable, Equatable {
  public var exec: [String]?
  public var user: String
  public var group: String
  public var supplementaryGIDs: [Int]?
  public var workingDirectory: String?
  public var environment: [ACINameValue]?
  public var mountPoints: [ACIMountPoint]?
  public var ports: [ACIPort]?

  public init(exec: [String]? = nil, user: String, group: String, supplementaryGIDs: [Int]? = nil,
              workingDirectory: String? = nil, environment: [ACINameValue]? = nil,
              mountPoints: [ACIMountPoint]? = nil, ports: [ACIPort]? = nil) {
    self.exec = exec
    self.user = user
    self.group = group
    self.supplementaryGIDs = supplementaryGIDs
    self.workingDirectory = workingDirectory
    self.environment = environment
    self.mountPoints = mountPoints
    self.ports = ports
  }

  enum CodingKeys: String, CodingKey {
    case exec, user, group, supplementaryGIDs, workingDirectory, environment, mountPoints, ports
  }
}

public struct ACIDependency: Codable, Sendable, Equatable {
  public var imageName: String
  public var imageID: String?
  public var labels: [ACINameValue]?
  enum CodingKeys: String, CodingKey { case imageName, imageID, labels }
}

public struct ACIManifest: Codable, Sendable, Equatable {
  public var acKind: String
  public var acVersion: String
  public var name: String
  public var labels: [ACINameValue]?
  public var app: ACIApp?
  public var annotations: [ACINameValue]?
  public var dependencies: [ACIDependency]?

  public static let kind = "ImageManifest"
  public static let version = "0.8.11"

  public init(name: String, labels: [ACINameValue]? = nil, app: ACIApp? = nil, annotations: [ACINameValue]? = nil) {
    self.acKind = ACIManifest.kind
    self.acVersion = ACIManifest.version
    self.name = name
    self.labels = labels
    self.app = app
    self.annotations = annotations
    self.dependencies = nil
  }

  enum CodingKeys: String, CodingKey { case acKind, acVersion, name, labels, app, annotations, dependencies }

  /// The value of label `name` (`version`, `os`, `arch`), if any.
  public func label(_ name: String) -> String? { labels?.first { $0.name == name }?.value }
}
