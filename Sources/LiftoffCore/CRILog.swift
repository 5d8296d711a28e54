// The CRI container log format (kubelet's `pkg/kubelet/kuberuntime/logs`), one record per line:
//   <RFC 3339 timestamp> <stdout|stderr> <F|P> <content>\n
// `P` marks a partial record: a line longer than `maxLineBytes` is split into P records and a final
// F record; output that ends without a newline is flushed as F when the stream closes.
// Pure formatting here; stage1 does the reading and writing.

public struct CRILogSplitter: Sendable {
  public static let maxLineBytes = 16 * 1024

  public let stream: String
  var pending: [UInt8] = []

  public init(stream: String) { self.stream = stream }

  /// Feeds bytes read from the app; returns the complete records (with their trailing newline)
  /// that can be written now, stamped with `timestamp`.
  public mutating func feed(_ bytes: some Sequence<UInt8>, timestamp: String) -> [UInt8] {
    var out: [UInt8] = []
    for b in bytes {
      if b == 0x0A {
        emit(&out, pending, full: true, timestamp)
        pending.removeAll(keepingCapacity: true)
      } else {
        // A full buffer goes out as P only once more of the line follows: a line of exactly
        // maxLineBytes is one F record, and a stream that ends there ends with F, not a P nobody ends.
        if pending.count == Self.maxLineBytes {
          emit(&out, pending, full: false, timestamp)
          pending.removeAll(keepingCapacity: true)
        }
        pending.append(b)
      }
    }
    return out
  }

  /// At end of stream: what is left, as a full record.
  public mutating func finish(timestamp: String) -> [UInt8] {
    guard !pending.isEmpty else { return [] }
    var out: [UInt8] = []
    emit(&out, pending, full: true, timestamp)
    pending.removeAll()
    return out
  }

  func emit(_ out: inout [UInt8], _ content: [UInt8], full: Bool, _ timestamp: String) {
    out.append(contentsOf: Array("\(timestamp) \(stream) \(full ? "F" : "P") ".utf8))
    out.append(contentsOf: content)
    out.append(0x0A)
  }
}
