/// The part of a table listing that says what Braid loaded: the elements of dynamic sets (the
/// sticky sets of named policies) are the packet path's, changing with every new client, so they
/// are left out before the listing is compared with the one Braid verified. Without this, any
/// foreign nft transaction (which moves the generation) would make the listing differ and the
/// table be reloaded, forgetting every sticky client.
enum DynamicSetListing {
    static func withoutDynamicElements(_ listing: String) -> String {
        var kept: [Substring] = []
        var inSet = false
        var dynamic = false
        var skipping = false
        var setLines: [Substring] = []
        for line in listing.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.drop { $0 == "\t" || $0 == " " }
            if skipping {
                if trimmed.hasSuffix("}") { skipping = false }
                continue
            }
            if !inSet {
                if trimmed.hasPrefix("set ") && trimmed.hasSuffix("{") {
                    inSet = true
                    dynamic = false
                    setLines = [line]
                } else {
                    kept.append(line)
                }
                continue
            }
            if trimmed.hasPrefix("flags ") && trimmed.contains("dynamic") { dynamic = true }
            if dynamic && trimmed.hasPrefix("elements = {") {
                if !trimmed.hasSuffix("}") { skipping = true }
                continue
            }
            setLines.append(line)
            if trimmed == "}" {
                kept += setLines
                inSet = false
            }
        }
        if inSet { kept += setLines }
        return kept.joined(separator: "\n")
    }
}
