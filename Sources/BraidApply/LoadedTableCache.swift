import BraidPlanner
import Synchronization

/// The last rendered table this process parsed, kept with its text: an in-place update reads the
/// table Braid loaded last (from the state file) and the desired one, and with 100,000 set entries
/// parsing both costs more than the update. After an apply the desired table (built object by
/// object, `NftablesRuleset.rendering`) is the loaded one of the next, so a change parses nothing.
///
/// A memo of a pure function (text → its objects), never a record of what the kernel holds: whether
/// the kernel still holds that text is decided by the nftables generation and the table's digest
/// (`TableVerification`), as without the cache.
final class LoadedTableCache: Sendable {
    private let last = Mutex<(source: String, table: RenderedTable)?>(nil)

    /// `source` parsed, from the cache when it is the text parsed last.
    func table(_ source: String) -> RenderedTable? {
        if let cached = last.withLock({ $0 }), cached.source.isSameText(as: source) { return cached.table }
        guard let table = RenderedTable(parsing: source) else { return nil }
        last.withLock { $0 = (source, table) }
        return table
    }

    /// Keeps `rendering`'s objects for the next change, when this one computes no update (a full
    /// load, a first apply): the change after a cold apply of a 2 MB table would otherwise parse it
    /// (60 ms).
    func remember(_ rendering: RulesetRendering) {
        last.withLock { $0 = (rendering.source, rendering.table) }
    }

    /// The in-place update from `loaded` to `desired` (see `TableUpdate.inPlace`), keeping
    /// `desired`'s objects for the next change.
    func update(from loaded: String, to desired: RulesetRendering) -> TableUpdate? {
        guard let before = table(loaded) else { return nil }
        last.withLock { $0 = (desired.source, desired.table) }
        return TableUpdate.inPlace(from: before, to: desired.table)
    }
}
