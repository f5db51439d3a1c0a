/// An OpenWrt UCI file (`/etc/config/mwan3`, `/etc/config/network`) as its sections, in file order.
///
/// Only the syntax is modelled here; what the sections mean is the importer's business. Line numbers
/// are kept on everything so that each note about an option can point at it.
public struct UCIDocument: Sendable, Equatable {
    /// The name given by a `package` statement, if any (uci export writes one; hand-written files rarely do).
    public var package: String?
    public var sections: [UCISection]

    public init(package: String? = nil, sections: [UCISection]) {
        self.package = package
        self.sections = sections
    }

    /// The sections of one type, in file order.
    public func sections(ofType type: String) -> [UCISection] {
        sections.filter { $0.type == type }
    }
}

/// One `config TYPE [NAME]` block and the `option`/`list` lines under it.
public struct UCISection: Sendable, Equatable {
    public var type: String
    /// Nil for an anonymous section (`config rule` with no name).
    public var name: String?
    /// For an anonymous section, its position among the sections of its type, as uci spells it
    /// (`@rule[2]`); also set for named ones.
    public var indexInType: Int
    public var line: Int
    public var options: [UCIOption]

    public init(type: String, name: String?, indexInType: Int, line: Int, options: [UCIOption] = []) {
        self.type = type
        self.name = name
        self.indexInType = indexInType
        self.line = line
        self.options = options
    }

    /// How uci itself names the section: its name, or `@type[index]` when it has none.
    public var reference: String { name ?? "@\(type)[\(indexInType)]" }

    public func option(_ name: String) -> UCIOption? { options.first { $0.name == name } }

    /// The option's single value; for a list, its first element.
    public func value(_ name: String) -> String? { option(name)?.values.first }

    /// The option's values: every `list` line of that name, or the one `option` value.
    public func values(_ name: String) -> [String] { option(name)?.values ?? [] }
}

/// One option of a section: an `option NAME VALUE` line, or all `list NAME VALUE` lines of one name.
public struct UCIOption: Sendable, Equatable {
    public var name: String
    public var values: [String]
    public var isList: Bool
    /// The line of the option, or of the first `list` line of that name.
    public var line: Int

    public init(name: String, values: [String], isList: Bool, line: Int) {
        self.name = name
        self.values = values
        self.isList = isList
        self.line = line
    }
}
