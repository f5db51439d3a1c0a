import CBraidLinux
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension LinuxKernel {
    /// One ctnetlink dump of the whole conntrack table (both families), grouped by mark under
    /// `mask`. A scrape of 200,000 entries reads them once in this process instead of starting
    /// one `conntrack -L` per WAN, each of which would print and parse every entry.
    public func countConnectionsByMark(mask: UInt32) throws(KernelError) -> [UInt32: Int] {
        // Braid's mask holds at most 255 WAN marks; twice that leaves room for other tools' bits.
        let dump = try growingDump(capacity: 512, empty: braid_mark_count(), extra: UInt64(0)) { counts, capacity, total in
            braid_conntrack_count_by_mark(mask, counts, capacity, &total)
        }
        guard dump.error == 0 else { throw .netlink("cannot dump the conntrack table over netlink: \(dump.reason)") }
        return dump.records.reduce(into: [:]) { result, group in result[group.mark] = Int(group.count) }
    }
}
