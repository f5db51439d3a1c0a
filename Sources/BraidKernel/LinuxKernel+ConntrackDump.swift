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
        var capacity = 512
        while true {
            let wanted = capacity
            let (groups, entries, error) = try runner.withinNetworkNamespace { () -> ([braid_mark_count], Int, Int32) in
                var counts = [braid_mark_count](repeating: braid_mark_count(), count: wanted)
                var total: UInt64 = 0
                let found = counts.withUnsafeMutableBufferPointer {
                    braid_conntrack_count_by_mark(mask, $0.baseAddress, Int32(wanted), &total)
                }
                guard found >= 0 else { return ([], -1, errno) }
                return (found <= wanted ? Array(counts.prefix(Int(found))) : [], Int(found), 0)
            }
            guard entries >= 0 else {
                let reason =
                    error == EAGAIN ? "every try was interrupted by other changes" : String(cString: strerror(error))
                throw .netlink("cannot dump the conntrack table over netlink: \(reason)")
            }
            if entries > wanted {
                capacity = entries
                continue
            }
            return groups.reduce(into: [:]) { result, group in result[group.mark] = Int(group.count) }
        }
    }
}
