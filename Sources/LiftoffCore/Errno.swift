#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// strerror text for an errno, e.g. "No such file or directory (errno 2)".
public func errnoDescription(_ e: Int32) -> String {
  guard let p = strerror(e) else { return "errno \(e)" }
  return "\(String(cString: p)) (errno \(e))"
}
