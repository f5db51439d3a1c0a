/// The grammars for names that flow from the config into nft scripts, ip commands and
/// /proc paths. Checking them here is what makes it safe to interpolate them later.
public enum Identifiers {
    /// WAN names: 1-15 characters of `[a-z0-9_-]`, starting with a letter or digit. They become
    /// parts of nft chain and counter names, so nothing that nft could read as syntax may appear.
    public static func isValidWanName(_ name: String) -> Bool {
        guard (1...15).contains(name.count), let first = name.unicodeScalars.first,
            isLowerAlphanumeric(first)
        else { return false }
        return name.unicodeScalars.allSatisfy { isLowerAlphanumeric($0) || $0 == "_" || $0 == "-" }
    }

    /// Linux interface names: 1-15 bytes (IFNAMSIZ - 1), no `/`, whitespace, `:` or quotes.
    /// Narrower than the kernel allows, so the name can be quoted in nft and used as a sysctl path.
    public static func isValidInterfaceName(_ name: String) -> Bool {
        guard (1...15).contains(name.utf8.count), name != ".", name != ".." else { return false }
        return name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (isLowerAlphanumeric(scalar) || ("A"..."Z").contains(scalar)
                    || scalar == "_" || scalar == "-" || scalar == ".")
        }
    }

    /// Names Braid uses for its own things, which WAN names must not shadow.
    public static let reservedWanNames: Set<String> = ["main", "local", "default", "balance", "drop", "all"]

    private static func isLowerAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
    }
}
