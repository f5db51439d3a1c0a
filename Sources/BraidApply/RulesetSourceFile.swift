import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The rendered table Braid loaded last, kept beside `state.json` as plain text in
/// `ruleset-ID.nft` and named from it. Inside the JSON it cost a re-plan of a large policy more
/// than the change itself: encoding the 2 MB table of 10,000 rules as a JSON string took 10–30 ms
/// of every weight change, where writing the text as it is takes about one.
///
/// Each file is written once under a new name and never changed, and `state.json` names the one
/// that belongs to it, so the rename of `state.json` stays the one commit point: a crash before it
/// leaves the old state naming the old file, and a crash after it leaves a stray file that the next
/// save sweeps away.
enum RulesetSourceFile {
    static let prefix = "ruleset-"
    static let suffix = ".nft"

    /// A fresh name, never used before in practice (64 random bits).
    static func newName() -> String {
        let id = String(UInt64.random(in: .min ... .max), radix: 16)
        return prefix + String(repeating: "0", count: 16 - id.count) + id + suffix
    }

    /// Whether `name` is one of Braid's own ruleset files: a name read from `state.json` is never
    /// followed out of the state directory.
    static func isValidName(_ name: String) -> Bool {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return false }
        let id = name.dropFirst(prefix.count).dropLast(suffix.count)
        return !id.isEmpty && id.allSatisfy(\.isHexDigit)
    }

    static func write(_ source: String, named name: String, in directory: String) -> Result<Void, PosixError> {
        PosixFile.replace(directory + "/" + name, with: Array(source.utf8), mode: 0o600)
    }

    /// The text of `name`, or nil when it is missing or unreadable.
    static func read(named name: String, in directory: String, limit: Int) -> String? {
        guard isValidName(name), case .success(let bytes?) = PosixFile.read(directory + "/" + name, limit: limit) else {
            return nil
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Removes every ruleset file in `directory` but `kept` (and their half-written `.new` twins).
    static func sweep(_ directory: String, keeping kept: String?) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name != kept {
            let base = name.hasSuffix(".new") ? String(name.dropLast(4)) : name
            if isValidName(base) { unlink(directory + "/" + name) }
        }
    }
}
