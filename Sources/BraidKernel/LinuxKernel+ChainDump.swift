import BraidPlanner
import CBraidLinux
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension LinuxKernel {
    /// Braid's chains as the kernel has them now — never from Braid's own records, which a killed
    /// `apply` (whose `nft` still committed) or another program makes stale. One nftables netlink
    /// dump in this process: every apply and every resync reads them, twice, and as an
    /// `nft -j list chains` process that was most of an idle daemon's CPU. Only the chains: they are
    /// all an unchanged table or an in-place update needs, and cheap however many maps and elements
    /// there are. A full reload asks `readObjectNames`. An empty table (no chains) still counts as
    /// Braid's: `down` must delete it.
    func readTable() throws(KernelError) -> ObservedTable? {
        var capacity = 64
        while true {
            let wanted = capacity
            let (chains, found, exists, error) = try runner.withinNetworkNamespace {
                () -> ([braid_chain], Int, Bool, Int32) in
                var chains = [braid_chain](repeating: braid_chain(), count: wanted)
                var exists: Int32 = 0
                let found = chains.withUnsafeMutableBufferPointer {
                    braid_nftables_chains(RoutingLayout.tableName, $0.baseAddress, Int32(wanted), &exists)
                }
                guard found >= 0 else { return ([], -1, false, errno) }
                return (found <= wanted ? Array(chains.prefix(Int(found))) : [], Int(found), exists != 0, 0)
            }
            guard found >= 0 else {
                let reason =
                    error == EAGAIN ? "every try was interrupted by other changes" : String(cString: strerror(error))
                throw .netlink("cannot read the chains of Braid's nftables table over netlink: \(reason)")
            }
            if found > wanted {
                capacity = found
                continue
            }
            guard exists else { return nil }
            let named = chains.map { chain in
                (name: withUnsafeBytes(of: chain.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }, chain.handle)
            }
            let fingerprint = named.map { "\($0.name)#\($0.1)" }.sorted().joined(separator: ",")
            return ObservedTable(chains: named.map(\.name), fingerprint: fingerprint)
        }
    }
}
