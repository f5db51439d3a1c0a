import BraidPlanner
import CBraidLinux
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension LinuxKernel {
    /// Braid's named counters (`rx_WAN`, `tx_WAN`) in one nftables netlink dump, read in this
    /// process. `nft list counters` would do the same work after reading the whole table, every
    /// set element included: 0.6 to 0.9 s with a 100,000-prefix set, paid by every `/metrics`
    /// scrape and every `braid status`. A table that is not there has no counters. (The C side
    /// asks for family inet: `RoutingLayout.tableFamily`.)
    public func readCounters() throws(KernelError) -> [String: TrafficCounter] {
        // Two per WAN; the room grows if another program added counters of its own to the table.
        var capacity = 64
        while true {
            let wanted = capacity
            let (counters, found, error) = try runner.withinNetworkNamespace { () -> ([braid_counter], Int, Int32) in
                var counters = [braid_counter](repeating: braid_counter(), count: wanted)
                let found = counters.withUnsafeMutableBufferPointer {
                    braid_nftables_counters(RoutingLayout.tableName, $0.baseAddress, Int32(wanted))
                }
                guard found >= 0 else { return ([], -1, errno) }
                return (found <= wanted ? Array(counters.prefix(Int(found))) : [], Int(found), 0)
            }
            guard found >= 0 else {
                // A missing table is an empty dump on Linux 6.x; ENOENT covers a kernel that checks first.
                if error == ENOENT { return [:] }
                let reason =
                    error == EAGAIN ? "every try was interrupted by other changes" : String(cString: strerror(error))
                throw .netlink("cannot read Braid's nftables counters over netlink: \(reason)")
            }
            if found > wanted {
                capacity = found
                continue
            }
            return counters.reduce(into: [:]) { result, counter in
                let name = withUnsafeBytes(of: counter.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                result[name] = TrafficCounter(packets: counter.packets, bytes: counter.bytes)
            }
        }
    }
}
