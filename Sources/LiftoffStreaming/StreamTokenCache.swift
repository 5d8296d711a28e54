// One-use tokens for streaming URLs: a token is handed out by register(), taken (and so consumed) by
// the first request that presents it, and forgotten after `ttl` unused. Like kubelet's request cache.
import LiftoffCore
import Synchronization

final class StreamTokenCache: Sendable {
  static let defaultTTL: Duration = .seconds(60)
  static let maxInFlight = 1000

  private struct Entry {
    var request: StreamRequest
    var expires: ContinuousClock.Instant
  }

  let ttl: Duration
  private let now: @Sendable () -> ContinuousClock.Instant
  private let entries = Mutex<[String: Entry]>([:])

  init(ttl: Duration = StreamTokenCache.defaultTTL, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
    self.ttl = ttl
    self.now = now
  }

  /// A new token for `request`. Too many unused tokens at once is an error (a client that asks and
  /// never connects must not grow this without bound).
  func insert(_ request: StreamRequest) throws -> String {
    let token = Self.randomToken()
    let t = now()
    try entries.withLock { e in
      e = e.filter { $0.value.expires > t }
      guard e.count < Self.maxInFlight else {
        throw LiftoffError(.resourceExhausted, "too many streaming requests in flight (\(Self.maxInFlight)); try again later")
      }
      e[token] = Entry(request: request, expires: t + ttl)
    }
    return token
  }

  /// The request for `token`, which is consumed; nil if unknown, used or expired.
  func take(_ token: String) -> StreamRequest? {
    let t = now()
    return entries.withLock { e in
      guard let entry = e.removeValue(forKey: token), entry.expires > t else { return nil }
      return entry.request
    }
  }

  var count: Int { entries.withLock { $0.count } }

  /// 128 random bits as 32 lowercase hex characters.
  static func randomToken() -> String {
    var rng = SystemRandomNumberGenerator()
    let hex = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for _ in 0..<2 {
      var v = rng.next() as UInt64
      for _ in 0..<16 {
        out.append(hex[Int(v & 0xf)])
        v >>= 4
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}
