// Options shared by `liftoff fetch` and `liftoff image …` (shared/DESIGN.md "Command line").
import ArgumentParser
import Foundation
import LiftoffCatalog
import LiftoffCore
import LiftoffImage

struct ImageOptions: ParsableArguments {
  @Option(name: .customLong("dir"), help: "Liftoff data directory.")
  var dir: String = "/var/lib/liftoff"

  @Option(name: .customLong("registry-config-dir"), help: "Directory of <host>/hosts.toml registry configuration.")
  var registryConfigDir: String = "/etc/liftoff/certs.d"

  @Option(name: .customLong("insecure-options"), help: "Comma-separated: http (allow plain HTTP), tls (skip TLS verification), none, all.")
  var insecureOptions: String = "none"

  @Option(name: .customLong("platform"), help: "Platform to select from multi-platform images (os/arch[/variant]).")
  var platform: String?

  @Option(name: .customLong("trust-dir"), help: "Image trust policy directory: policy.toml or policy.json, keys/.")
  var trustDir: String = TrustPolicy.defaultDirectory

  // liftoff's global flags that concern pods only: every liftoff command accepts every global flag (a
  // script passes one set to all of them, as with rkt), so these are taken here and unused.
  @Option(name: .customLong("cni-conf-dir"), help: .hidden) var cniConfDir: String?
  @Option(name: .customLong("cni-bin-dir"), help: .hidden) var cniBinDir: String?
  @Option(name: .customLong("cni-default-network"), help: .hidden) var cniDefaultNetwork: String?

  func store(unpackLimits: UnpackLimits = UnpackLimits()) throws -> ImageStore {
    let hosts = RegistryHosts(configDir: registryConfigDir, insecure: try InsecureOptions(parsing: insecureOptions))
    let p = try platform.map { try Platform(parsing: $0) } ?? .host
    return try ImageStore(root: dir + "/images", hosts: hosts, platform: p, unpackLimits: unpackLimits, trustDir: trustDir)
  }
}


/// Runs a command body, turning errors into one stderr line and the error's exit code.
func runReportingErrors(_ body: () async throws -> Void) async throws {
  do { try await body() } catch let e as LiftoffError {
    FileHandle.standardError.write(Data("liftoff: \(e.description)\n".utf8))
    throw ExitCode(e.exitCode)
  } catch let e as ExitCode {
    throw e
  } catch let e as SystemCallError {
    FileHandle.standardError.write(Data("liftoff: \(e.description)\n".utf8))
    throw ExitCode(1)
  } catch let e as CleanExit {
    throw e
  } catch let e as ValidationError {
    throw e
  } catch {
    FileHandle.standardError.write(Data("liftoff: \(error)\n".utf8))
    throw ExitCode(1)
  }
}


func humanSize(_ n: Int64) -> String {
  let units = ["B", "KiB", "MiB", "GiB", "TiB"]
  var v = Double(n)
  var i = 0
  while v >= 1024 && i < units.count - 1 {
    v /= 1024
    i += 1
  }
  return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
}
