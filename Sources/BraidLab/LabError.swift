/// Why a lab could not be built or a lab operation failed.
public struct LabError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
