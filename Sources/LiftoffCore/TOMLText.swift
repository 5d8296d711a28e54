// Writing TOML v1.0.0 (toml.io/en/v1.0.0) values by hand, for the configuration dumps of
// `liftoff-cri config` and `liftoff config`: basic strings with the escapes the spec requires,
// arrays of strings, and `key = value` lines in a fixed order so that the output is stable.
public enum TOMLText {
  /// A TOML basic string: `"` and `\` escaped, control characters as \b \t \n \f \r or \uXXXX.
  public static func quote(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\u{08}": out += "\\b"
      case "\t": out += "\\t"
      case "\n": out += "\\n"
      case "\u{0C}": out += "\\f"
      case "\r": out += "\\r"
      case _ where scalar.value < 0x20 || scalar.value == 0x7F:
        let hex = String(scalar.value, radix: 16, uppercase: true)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }

  /// A key as written in a table header: bare when it is letters, digits, `-` and `_` only, quoted otherwise.
  public static func quoteKeyIfNeeded(_ key: String) -> String {
    let bare = !key.isEmpty && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    return bare ? key : quote(key)
  }

  /// A one-line array of basic strings.
  public static func array(_ items: [String]) -> String {
    "[" + items.map(quote).joined(separator: ", ") + "]"
  }
}
