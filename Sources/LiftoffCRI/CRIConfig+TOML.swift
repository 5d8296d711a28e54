// `liftoff-cri config`: the effective configuration (defaults, the file, then the flags) as a TOML
// document that `--config` loads back to the same settings — like `crio config` and
// `containerd config dump`. Every key is written, in CodingKeys order; a setting with no value
// (the streaming TLS pair when unset) is written as a comment, since TOML has no null.
import LiftoffCore

extension CRIConfig {
  public func tomlDocument() -> String {
    var lines = ["# liftoff-cri \(LiftoffVersion.version): effective configuration (defaults, config file, flags)"]
    for key in CodingKeys.allCases {
      let name = key.rawValue
      switch key {
      case .socket: lines.append("\(name) = \(TOMLText.quote(socket))")
      case .dir: lines.append("\(name) = \(TOMLText.quote(dir))")
      case .logLevel: lines.append("\(name) = \(TOMLText.quote(logLevel))")
      case .cniConfDir: lines.append("\(name) = \(TOMLText.quote(cniConfDir))")
      case .cniBinDir: lines.append("\(name) = \(TOMLText.quote(cniBinDir))")
      case .cniDefaultNetwork: lines.append("\(name) = \(cniDefaultNetwork)")
      case .registryConfigDir: lines.append("\(name) = \(TOMLText.quote(registryConfigDir))")
      case .streamAddress: lines.append("\(name) = \(TOMLText.quote(streamAddress))")
      case .streamPort: lines.append("\(name) = \(streamPort)")
      case .streamTLSCert:
        lines.append(streamTLSCert.map { "\(name) = \(TOMLText.quote($0))" } ?? "# \(name) = \"\"  (not set: plain HTTP)")
      case .streamTLSKey:
        lines.append(streamTLSKey.map { "\(name) = \(TOMLText.quote($0))" } ?? "# \(name) = \"\"  (not set: plain HTTP)")
      case .cgroupDriver: lines.append("\(name) = \(TOMLText.quote(cgroupDriver))")
      case .maxUnpackedBytes: lines.append("\(name) = \(maxUnpackedBytes)")
      case .maxUnpackedEntries: lines.append("\(name) = \(maxUnpackedEntries)")
      case .trustDir: lines.append("\(name) = \(TOMLText.quote(trustDir))")
      case .pinnedImages: lines.append("\(name) = \(TOMLText.array(pinnedImages))")
      case .cdiSpecDirs: lines.append("\(name) = \(TOMLText.array(cdiSpecDirs))")
      case .imagePullProgressTimeout: lines.append("\(name) = \(TOMLText.quote(imagePullProgressTimeout))")
      case .metricsAddress:
        lines.append(metricsAddress.map { "\(name) = \(TOMLText.quote($0))" } ?? "# \(name) = \"127.0.0.1:9090\"  (not set: no metrics endpoint)")
      case .runtimeHandlers: break  // tables, after every plain key
      }
    }
    // The file's handlers as tables; the built-ins it does not redefine as a comment (printing them as
    // tables would load back as settings the file never made).
    let builtIns = RuntimeHandlerConfig.builtIn.keys.filter { runtimeHandlers[$0] == nil }.sorted()
    if !builtIns.isEmpty {
      lines.append("")
      lines.append("# built-in runtime handlers: \(builtIns.map { "\"\($0)\" (\(RuntimeHandlerConfig.builtIn[$0]!.flavor.rawValue))" }.joined(separator: ", "))")
    }
    for name in runtimeHandlers.keys.sorted() {
      lines.append("")
      lines += runtimeHandlers[name]!.tomlLines(name: name)
    }
    return lines.joined(separator: "\n") + "\n"
  }
}
