/// Writes the block-style YAML of an imported config: keys in the order given, scalars quoted only
/// when YAML would read them as something else, so that the output reads like a hand-written file.
struct YAMLWriter {
    private(set) var text = ""

    mutating func comment(_ line: String, indent: Int = 0) {
        text += String(repeating: " ", count: indent) + "# " + line + "\n"
    }

    mutating func blank() { text += "\n" }

    /// Appends what another writer wrote (a block built before its heading was known).
    mutating func append(_ other: YAMLWriter) { text += other.text }

    mutating func key(_ key: String, indent: Int, listItem: Bool = false) {
        text += prefix(indent: indent, listItem: listItem) + key + ":\n"
    }

    /// `plain`: the value is written as it is (a boolean or number meant as one).
    mutating func pair(_ key: String, _ value: String, indent: Int, listItem: Bool = false, plain: Bool = false, note: String? = nil) {
        text += prefix(indent: indent, listItem: listItem) + key + ": " + (plain ? value : Self.scalar(value))
        if let note { text += "   # " + note }
        text += "\n"
    }

    mutating func flowList(_ key: String, _ values: [String], indent: Int, listItem: Bool = false) {
        text += prefix(indent: indent, listItem: listItem) + key + ": [" + values.map(Self.scalar).joined(separator: ", ") + "]\n"
    }

    mutating func flowMapping(_ pairs: [(String, String)], indent: Int) {
        text += prefix(indent: indent, listItem: true) + "{ "
            + pairs.map { "\($0.0): \(Self.scalar($0.1))" }.joined(separator: ", ") + " }\n"
    }

    private func prefix(indent: Int, listItem: Bool) -> String {
        String(repeating: " ", count: indent) + (listItem ? "- " : "")
    }

    /// A scalar as YAML reads it back unchanged: plain when it is made of safe characters and is
    /// not a word YAML gives meaning to, else double-quoted with escapes.
    static func scalar(_ value: String) -> String {
        let reserved: Set<String> = [
            "", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n", "Null", "NULL", "True", "False", "Yes", "No",
            "On", "Off", "TRUE", "FALSE", "YES", "NO", "ON", "OFF", "Y", "N",
        ]
        let safe = value.unicodeScalars.allSatisfy { scalar in
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                || "._/-".unicodeScalars.contains(scalar)
        }
        if safe, !reserved.contains(value), value.first != "-", value.first != "." {
            return value
        }
        var escaped = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    escaped += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped + "\""
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
