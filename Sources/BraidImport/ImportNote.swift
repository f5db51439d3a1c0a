/// Something of the imported file that Braid does not carry over as it was, and why: printed on
/// stderr by `braid import`, one line each, pointing at the line of the original file.
public struct ImportNote: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// Nil when the note is about the file as a whole.
    public var line: Int?
    /// The section as uci names it (`wan`, `@rule[2]`).
    public var section: String
    /// The option the note is about; nil when it is about the whole section.
    public var option: String?
    public var message: String

    public init(file: String, line: Int?, section: String, option: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.section = section
        self.option = option
        self.message = message
    }

    public var description: String {
        let subject = option.map { "\(section).\($0)" } ?? section
        return "\(file):\(line.map { "\($0):" } ?? "") \(subject): \(message)"
    }
}
