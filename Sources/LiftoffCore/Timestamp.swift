// RFC 3339 timestamps with nanoseconds in UTC (`2026-01-02T15:04:05.123456789Z`), the form CRI logs
// and Liftoff state files use. Pure calendar arithmetic, no Foundation.

public enum Timestamp {
  /// Formats seconds + nanoseconds since the Unix epoch.
  public static func rfc3339Nano(seconds: Int64, nanoseconds: Int64) -> String {
    let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
    let secOfDay = seconds - days * 86400
    let (y, m, d) = civil(fromDays: days)
    func pad(_ v: Int64, _ w: Int) -> String {
      let s = String(v)
      return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
    }
    return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(secOfDay / 3600, 2)):\(pad(secOfDay / 60 % 60, 2)):"
      + "\(pad(secOfDay % 60, 2)).\(pad(nanoseconds, 9))Z"
  }

  /// Parses what `rfc3339Nano` writes (and any `Z` timestamp with 0–9 fraction digits) back to
  /// seconds + nanoseconds; nil when malformed.
  public static func parse(_ s: String) -> (seconds: Int64, nanoseconds: Int64)? {
    let b = Array(s.utf8)
    guard b.count >= 20, b.last == UInt8(ascii: "Z") else { return nil }
    func num(_ r: Range<Int>) -> Int64? {
      var v: Int64 = 0
      for i in r {
        guard i < b.count, b[i] >= 0x30, b[i] <= 0x39 else { return nil }
        v = v * 10 + Int64(b[i] - 0x30)
      }
      return v
    }
    guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16),
      let se = num(17..<19)
    else { return nil }
    var nanos: Int64 = 0
    if b[19] == UInt8(ascii: ".") {
      let digits = b.count - 1 - 20
      guard digits >= 1, digits <= 9, let f = num(20..<(b.count - 1)) else { return nil }
      nanos = f
      for _ in digits..<9 { nanos *= 10 }
    }
    let days = daysFromCivil(y, mo, d)
    return (days * 86400 + h * 3600 + mi * 60 + se, nanos)
  }

  // Howard Hinnant's days-from-civil algorithms.
  static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
    let z = z0 + 719468
    let era = (z >= 0 ? z : z - 146096) / 146097
    let doe = z - era * 146097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
    let y = yoe + era * 400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (m <= 2 ? y + 1 : y, m, d)
  }

  static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
    let y = m <= 2 ? y0 - 1 : y0
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146097 + doe - 719468
  }
}
