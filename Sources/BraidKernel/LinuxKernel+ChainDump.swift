import BraidPlanner
import CBraidLinux
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension LinuxKernel {
    /// Braid's chains as the kernel has them now — never from Braid's own records, which a killed
    /// `apply` (whose `nft` still committed) or another program makes stale. One nftables netlink
    /// dump in this process: every apply and every resync reads them, twice, and each read was an
    /// `nft -j list chains` process. Only the chains: they are
    /// all an unchanged table or an in-place update needs, and cheap however many maps and elements
    /// there are. A full reload asks `readObjectNames`. An empty table (no chains) still counts as
    /// Braid's: `down` must delete it.
    func readTable() throws(KernelError) -> ObservedTable? {
        let dump = try growingDump(capacity: 64, empty: braid_chain(), extra: Int32(0)) { chains, capacity, exists in
            braid_nftables_chains(RoutingLayout.tableName, chains, capacity, &exists)
        }
        guard dump.error == 0 else {
            throw .netlink("cannot read the chains of Braid's nftables table over netlink: \(dump.reason)")
        }
        guard dump.extra != 0 else { return nil }
        let named = dump.records.map { chain in
            (name: withUnsafeBytes(of: chain.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }, chain.handle)
        }
        let fingerprint = named.map { "\($0.name)#\($0.1)" }.sorted().joined(separator: ",")
        return ObservedTable(chains: named.map(\.name), fingerprint: fingerprint)
    }
}
