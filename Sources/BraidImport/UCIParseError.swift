/// Why a UCI file could not be read, with the line that is wrong: the importer stops here, since
/// guessing what a broken file meant could route traffic where nobody asked.
public struct UCIParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}
