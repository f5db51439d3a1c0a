/// Reads UCI text as libuci does: `package`, `config TYPE [NAME]`, `option NAME VALUE` and
/// `list NAME VALUE` statements, one per line; words unquoted, 'single-quoted' (literal) or
/// "double-quoted" (backslash escapes the next character), quoted text may span lines, a backslash
/// at the end of a line continues it, `#` at the start of a word comments out the rest of the line.
/// Indentation is free (tabs or spaces). What OpenWrt writes and what people hand-edit both read.
public enum UCIParser {
    public static func parse(_ text: String, file: String) throws(UCIParseError) -> UCIDocument {
        let statements = try tokenize(text, file: file)
        var document = UCIDocument(sections: [])
        var current: Int?
        var named: [String: Int] = [:]
        var countByType: [String: Int] = [:]

        func fail(_ line: Int, _ message: String) -> UCIParseError {
            UCIParseError(file: file, line: line, message: message)
        }

        for statement in statements {
            let words = statement.words
            let line = statement.line
            switch words[0] {
            case "package":
                guard words.count == 2 else { throw fail(line, "`package` takes one name") }
                document.package = words[1]
            case "config":
                guard words.count >= 2, !words[1].isEmpty else {
                    throw fail(line, "a `config` line needs a section type (as in `config interface 'wan'`)")
                }
                guard words.count <= 3 else {
                    throw fail(line, "too many words after `config \(words[1])`: quote a name that has spaces")
                }
                try checkIdentifier(words[1], what: "section type", line: line, file: file)
                let type = words[1]
                let name = words.count == 3 ? words[2] : nil
                if let name {
                    try checkIdentifier(name, what: "section name", line: line, file: file)
                }
                if let name, let existing = named[name] {
                    // libuci merges a repeated named section into the first one.
                    guard document.sections[existing].type == type else {
                        throw fail(
                            line,
                            "section '\(name)' was declared as `\(document.sections[existing].type)` on line "
                                + "\(document.sections[existing].line); here it is `\(type)`")
                    }
                    current = existing
                    continue
                }
                let index = countByType[type, default: 0]
                countByType[type] = index + 1
                document.sections.append(UCISection(type: type, name: name, indexInType: index, line: line))
                current = document.sections.count - 1
                if let name { named[name] = current }
            case "option", "list":
                let keyword = words[0]
                guard let section = current else {
                    throw fail(line, "`\(keyword)` before any `config` line: every option belongs to a section")
                }
                guard words.count >= 2 else { throw fail(line, "`\(keyword)` needs a name and a value") }
                guard words.count >= 3 else { throw fail(line, "`\(keyword) \(words[1])` has no value") }
                guard words.count == 3 else {
                    throw fail(line, "too many words after `\(keyword) \(words[1])`: quote a value that has spaces")
                }
                try checkIdentifier(words[1], what: "option name", line: line, file: file)
                document.sections[section].set(name: words[1], value: words[2], isList: keyword == "list", line: line)
            default:
                throw fail(line, "unknown statement `\(words[0])`: expected config, option, list or package")
            }
        }
        return document
    }

    private static func checkIdentifier(_ word: String, what: String, line: Int, file: String) throws(UCIParseError) {
        let allowed = !word.isEmpty && word.unicodeScalars.allSatisfy { scalar in
            scalar == "_" || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
        }
        guard allowed else {
            throw UCIParseError(
                file: file, line: line, message: "invalid \(what) '\(word)': UCI allows only letters, digits and _")
        }
    }

    struct Statement {
        var words: [String]
        var line: Int
    }

    /// Splits the text into statements of words, following libuci's quoting rules.
    static func tokenize(_ text: String, file: String) throws(UCIParseError) -> [Statement] {
        var statements: [Statement] = []
        var words: [String] = []
        var word = ""
        var inWord = false
        var statementLine = 1
        var line = 1
        let characters = Array(text.unicodeScalars)
        var index = 0

        func endWord() {
            if inWord { words.append(word) }
            word = ""
            inWord = false
        }
        func endStatement() {
            endWord()
            if !words.isEmpty { statements.append(Statement(words: words, line: statementLine)) }
            words = []
        }
        func startWordIfNeeded() {
            if words.isEmpty && !inWord { statementLine = line }
            inWord = true
        }

        while index < characters.count {
            let character = characters[index]
            switch character {
            case "\n":
                endStatement()
                line += 1
            case " ", "\t", "\r":
                endWord()
            case "#" where !inWord:
                while index + 1 < characters.count && characters[index + 1] != "\n" { index += 1 }
            case "'", "\"":
                startWordIfNeeded()
                let openedOn = line
                index += 1
                var closed = false
                while index < characters.count {
                    let inner = characters[index]
                    if inner == character {
                        closed = true
                        break
                    }
                    if inner == "\\" && character == "\"" && index + 1 < characters.count {
                        index += 1
                        if characters[index] == "\n" { line += 1 } else { word.unicodeScalars.append(characters[index]) }
                    } else {
                        if inner == "\n" { line += 1 }
                        word.unicodeScalars.append(inner)
                    }
                    index += 1
                }
                guard closed else {
                    throw UCIParseError(
                        file: file, line: openedOn,
                        message: "the quote opened here (\(character)) is never closed; the file may be truncated")
                }
            case "\\":
                if index + 1 < characters.count, characters[index + 1] == "\n" {
                    index += 1
                    line += 1
                } else if index + 1 < characters.count {
                    startWordIfNeeded()
                    index += 1
                    word.unicodeScalars.append(characters[index])
                }
            default:
                startWordIfNeeded()
                word.unicodeScalars.append(character)
            }
            index += 1
        }
        endStatement()
        return statements
    }
}

extension UCISection {
    /// Records one `option` or `list` line as libuci does: an option replaces, a list line appends
    /// (and turns an earlier single option of that name into a list).
    mutating func set(name: String, value: String, isList: Bool, line: Int) {
        guard let index = options.firstIndex(where: { $0.name == name }) else {
            options.append(UCIOption(name: name, values: [value], isList: isList, line: line))
            return
        }
        if isList {
            options[index].values.append(value)
            options[index].isList = true
        } else {
            options[index] = UCIOption(name: name, values: [value], isList: false, line: line)
        }
    }
}
