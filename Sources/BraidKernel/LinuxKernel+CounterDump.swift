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
        let dump = try growingDump(capacity: 64, empty: braid_counter(), extra: ()) { counters, capacity, _ in
            braid_nftables_counters(RoutingLayout.tableName, counters, capacity)
        }
        // A missing table is an empty dump on Linux 6.x; ENOENT covers a kernel that checks first.
        if dump.error == ENOENT { return [:] }
        guard dump.error == 0 else { throw .netlink("cannot read Braid's nftables counters over netlink: \(dump.reason)") }
        return dump.records.reduce(into: [:]) { result, counter in
            let name = withUnsafeBytes(of: counter.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            result[name] = TrafficCounter(packets: counter.packets, bytes: counter.bytes)
        }
    }
}
