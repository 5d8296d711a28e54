// The TOML that policy.toml may use, read without TOMLKit: `liftoff` checks the policy at every pod
// create (run, prepare, app add) and links no TOML library (its start-up is on every CRI call), and
// liftoff-cri and liftoff-image must read the file exactly as it does, so all three use this reader.
//
// The subset (TOML 1.0 syntax; anything else is an error naming the line): comments; `key = value`
// with bare or quoted keys; basic strings with the escapes \" \\ \b \t \n \f \r \uXXXX \UXXXXXXXX and
// literal strings; true/false; arrays of those, over several lines, with a trailing comma; `[table]`
// and `[[array of tables]]` headers with bare names.
import LiftoffCore

struct MiniTOML {
  enum Value: Equatable {
    case string(String)
    case bool(Bool)
    case array([Value])
  }

  struct Entry {
    var key: String
    var value: Value
    var line: Int
  }

  struct Table {
    /// nil for the root table.
    var name: String?
    /// `[[name]]`.
    var isArrayElement: Bool
    var line: Int
    var entries: [Entry] = []
  }

  var tables: [Table]

  init(parsing text: String, file: String) throws {
    var p = Parser(Array(text.unicodeScalars), file: file)
    tables = try p.document()
  }

  struct Parser {
    let s: [Unicode.Scalar]
    let file: String
    var i = 0
    var line = 1

    init(_ s: [Unicode.Scalar], file: String) {
      self.s = s
      self.file = file
    }

    func fail(_ why: String) -> LiftoffError {
      .invalidArgument("\(file):\(line): \(why) (policy.toml is TOML: key = \"string\", [\"array\"], true/false, [[rule]])")
    }

    var atEnd: Bool { i >= s.count }
    var peek: Unicode.Scalar? { atEnd ? nil : s[i] }

    mutating func skipSpaces() { while let c = peek, c == " " || c == "\t" { i += 1 } }

    /// Spaces, then a comment or nothing, then the end of the line (or file).
    mutating func endOfLine() throws {
      skipSpaces()
      if peek == "#" { while let c = peek, c != "\n" { i += 1 } }
      if peek == "\r" { i += 1 }
      if atEnd { return }
      guard peek == "\n" else { throw fail("unexpected \"\(peek!)\" after the value") }
      i += 1
      line += 1
    }

    /// White space, newlines and comments (inside arrays).
    mutating func skipBlank() {
      while let c = peek {
        if c == " " || c == "\t" || c == "\r" {
          i += 1
        } else if c == "\n" {
          i += 1
          line += 1
        } else if c == "#" {
          while let d = peek, d != "\n" { i += 1 }
        } else {
          return
        }
      }
    }

    static func isBare(_ c: Unicode.Scalar) -> Bool {
      ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "_" || c == "-"
    }

    mutating func bareName() throws -> String {
      var out = String.UnicodeScalarView()
      while let c = peek, Self.isBare(c) {
        out.append(c)
        i += 1
      }
      guard !out.isEmpty else { throw fail("expected a name") }
      return String(out)
    }

    mutating func document() throws -> [Table] {
      var tables = [Table(name: nil, isArrayElement: false, line: 1)]
      var seenTables: Set<String> = []
      while true {
        skipBlank()
        guard let c = peek else { break }
        if c == "[" {
          let at = line
          i += 1
          let array = peek == "["
          if array { i += 1 }
          skipSpaces()
          let name = try bareName()
          skipSpaces()
          guard peek == "]" else { throw fail("a table header is [name] or [[name]] with a bare name") }
          i += 1
          if array {
            guard peek == "]" else { throw fail("[[\(name)] is missing a ]") }
            i += 1
          }
          if !array {
            guard seenTables.insert(name).inserted else { throw fail("table [\(name)] defined twice") }
          }
          try endOfLine()
          tables.append(Table(name: name, isArrayElement: array, line: at))
          continue
        }
        let at = line
        let key: String
        if c == "\"" || c == "'" { key = try string() } else { key = try bareName() }
        skipSpaces()
        guard peek == "=" else {
          throw fail(peek == "." ? "dotted keys are not read here; use a [table]" : "expected = after \"\(key)\"")
        }
        i += 1
        skipSpaces()
        let v = try value()
        guard !tables[tables.count - 1].entries.contains(where: { $0.key == key }) else { throw fail("\"\(key)\" given twice") }
        tables[tables.count - 1].entries.append(Entry(key: key, value: v, line: at))
        try endOfLine()
      }
      return tables
    }

    mutating func value() throws -> Value {
      guard let c = peek else { throw fail("a value is missing") }
      switch c {
      case "\"", "'": return .string(try string())
      case "[":
        i += 1
        var items: [Value] = []
        while true {
          skipBlank()
          if peek == "]" {
            i += 1
            return .array(items)
          }
          items.append(try value())
          skipBlank()
          if peek == "," {
            i += 1
            continue
          }
          guard peek == "]" else { throw fail("expected , or ] in an array") }
        }
      default:
        if matches("true") { return .bool(true) }
        if matches("false") { return .bool(false) }
        throw fail("unsupported value (strings, true/false and arrays of them only)")
      }
    }

    mutating func matches(_ word: String) -> Bool {
      let w = Array(word.unicodeScalars)
      guard i + w.count <= s.count, Array(s[i..<(i + w.count)]) == w else { return false }
      if i + w.count < s.count, Self.isBare(s[i + w.count]) { return false }
      i += w.count
      return true
    }

    mutating func string() throws -> String {
      let quote = s[i]
      if i + 2 < s.count, s[i + 1] == quote, s[i + 2] == quote { throw fail("multi-line strings are not read here") }
      i += 1
      var out = String.UnicodeScalarView()
      while true {
        guard let c = peek, c != "\n" else { throw fail("unterminated string") }
        i += 1
        if c == quote { return String(out) }
        if quote == "'" || c != "\\" {
          guard c.value >= 0x20 || c == "\t", c.value != 0x7f else { throw fail("control character in a string") }
          out.append(c)
          continue
        }
        guard let e = peek else { throw fail("unterminated string") }
        i += 1
        switch e {
        case "\"": out.append("\"")
        case "\\": out.append("\\")
        case "b": out.append("\u{08}")
        case "t": out.append("\t")
        case "n": out.append("\n")
        case "f": out.append("\u{0C}")
        case "r": out.append("\r")
        case "u", "U":
          let n = e == "u" ? 4 : 8
          guard i + n <= s.count, let v = UInt32(String(String.UnicodeScalarView(s[i..<(i + n)])), radix: 16),
            let u = Unicode.Scalar(v)
          else { throw fail("bad \\\(e) escape") }
          out.append(u)
          i += n
        default: throw fail("unknown escape \\\(e)")
        }
      }
    }
  }

  /// A string in basic-string form, for writing: JSON's string form is one (escapes \" \\ \n \r \t
  /// \u00XX), but for DEL, which TOML wants escaped and scopes and key names never hold.
  static func quote(_ s: String) -> String { JSON.string(s).serialized() }
}
