/// Why a port forward target's text was refused, in words that say how to write it.
public struct ForwardTargetSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
}

extension ForwardTarget {
    /// Parses `ADDRESS[:PORT][@WEIGHT]`. An IPv6 address stands alone (`fd00:1::2`, the arriving
    /// port is kept) or in brackets before a port (`[fd00:1::2]:80`): without brackets the last
    /// group of `fd00::2:80` would be read as part of the address, so a port there is ambiguous.
    public static func parseExplained(_ text: String) -> Result<ForwardTarget, ForwardTargetSyntaxError> {
        func failure(_ reason: String) -> Result<ForwardTarget, ForwardTargetSyntaxError> {
            .failure(ForwardTargetSyntaxError(description: "\"\(text)\" \(reason)"))
        }
        let generic = "is not ADDRESS[:PORT][@WEIGHT] (port 1-65535, weight 1-1000; IPv6 with a port: [fd00:1::2]:80)"
        let weightPieces = text.split(separator: "@", omittingEmptySubsequences: false)
        guard (1...2).contains(weightPieces.count) else { return failure(generic) }
        var weight = 1
        if weightPieces.count == 2 {
            guard weightPieces[1].allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(weightPieces[1]),
                (1...1000).contains(value)
            else { return failure("has a weight that is not 1-1000") }
            weight = value
        }
        let hostAndPort = weightPieces[0]
        let addressText: Substring
        var portText: Substring?
        if hostAndPort.hasPrefix("[") {
            guard let close = hostAndPort.firstIndex(of: "]") else {
                return failure("opens a bracket but does not close it: write [IPV6]:PORT")
            }
            addressText = hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close]
            let rest = hostAndPort[hostAndPort.index(after: close)...]
            if rest.isEmpty { return failure("has brackets but no port: write [IPV6]:PORT, or the address alone") }
            guard rest.hasPrefix(":") else { return failure("needs a colon between ] and the port: [IPV6]:PORT") }
            portText = rest.dropFirst()
            guard addressText.contains(":") else {
                return failure("puts an IPv4 address in brackets; brackets are for IPv6 only (write ADDRESS:PORT)")
            }
        } else if hostAndPort.contains("]") {
            return failure("closes a bracket it never opened: write [IPV6]:PORT")
        } else if hostAndPort.filter({ $0 == ":" }).count > 1 {
            addressText = hostAndPort
        } else {
            let pieces = hostAndPort.split(separator: ":", omittingEmptySubsequences: false)
            addressText = pieces[0]
            portText = pieces.count == 2 ? pieces[1] : nil
        }
        let address: IPAddress
        switch IPAddress(addressText) {
        case .v4(let value)? where !value.isUnusableAsHost: address = .v4(value)
        case .v6(let value)? where !value.isUnusableAsHost && !value.isLinkLocal: address = .v6(value)
        case .v6?: return failure("is not a usable IPv6 host address for a forward (not link-local, multicast or ::)")
        default:
            return failure(addressText.contains(":") ? "is not a valid IPv6 address (with a port: [fd00:1::2]:80)" : generic)
        }
        var port: UInt16?
        if let portText {
            guard let range = PortRange.parse(String(portText)), range.first == range.last else {
                return failure("has a port that is not 1-65535")
            }
            port = range.first
        }
        return .success(ForwardTarget(address: address, port: port, weight: weight))
    }
}
