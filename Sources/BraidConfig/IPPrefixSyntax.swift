/// Why a text is not an address or prefix of either family, in the words a user needs: a prefix
/// length past the family's bits and host bits left set are the usual IPv6 mistakes.
enum IPPrefixSyntax {
    static func reason(_ text: String) -> String {
        let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
        guard let address = IPAddress(pieces[0]) else {
            return "\"\(text)\" is not an IPv4 or IPv6 address or prefix"
        }
        let bits = address.family.addressBits
        guard pieces.count == 2, let length = Int(pieces[1]), pieces[1].allSatisfy({ $0.isASCII && $0.isNumber }),
            !(pieces[1].count > 1 && pieces[1].first == "0")
        else {
            return "\"\(text)\" has no valid prefix length: write /0 to /\(bits) after the \(address.family) address"
        }
        if length > bits { return "\"\(text)\": /\(length) is longer than an \(address.family) address (\(bits) bits)" }
        return
            "\"\(text)\" has host bits set after /\(length); the prefix is \(address.masked(toLength: length))/\(length) (host bits of a prefix must be zero)"
    }
}
