// Layer chain IDs, OCI image-spec v1.1 config.md#layer-chainid:
// ChainID(L0) = DiffID(L0); ChainID(L0|…|Ln) = sha256(ChainID(L0|…|Ln-1) + " " + DiffID(Ln)).
// The hashing itself lives where a SHA-256 implementation is available (LiftoffImage); this file only
// states the rule so every user computes the same string.

public enum ChainID {
  /// The string whose sha256 is the chain ID of `parent` followed by `diffID`.
  public static func input(parent: Digest, diffID: Digest) -> String { "\(parent) \(diffID)" }
}
