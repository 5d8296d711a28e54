/// Liftoff's own version and the CRI API version it speaks.
public enum LiftoffVersion {
  public static let version = "0.1.0"
  public static let runtimeName = "liftoff"
  public static let criAPIVersion = "v1"
  /// The k8s.io/cri-api release whose `runtime.v1` proto Liftoff matches.
  public static let criAPIUpstream = "k8s.io/cri-api v0.36.3"
}
