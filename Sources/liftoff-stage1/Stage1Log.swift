import Glibc

/// stage1's diagnostics: one line each on stderr (the console of `liftoff run`, the journal of a
/// systemd unit), prefixed with the program name.
enum Stage1Log {
  static func error(_ message: String) {
    let line = "liftoff-stage1: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
  }
}
