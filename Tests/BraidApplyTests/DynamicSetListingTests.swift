import Testing

@testable import BraidApply

/// The sticky sets' elements are the packet path's: a listing is compared without them.
@Suite struct DynamicSetListingTests {
    static let listing = """
        table inet braid {
        \tset dst_office {
        \t\ttype ipv4_addr
        \t\tflags interval
        \t\telements = { 10.0.0.0/8 }
        \t}

        \tset sticky_balanced_600_isp1 {
        \t\ttype ipv4_addr
        \t\tsize 65535
        \t\tflags dynamic,timeout
        \t\ttimeout 10m
        \t\telements = { 10.77.0.100 expires 9m58s, 10.77.0.101 expires 9m59s,
        \t\t\t     10.77.0.102 expires 9m57s }
        \t}
        }
        """

    @Test func dynamicElementsAreLeftOutAndFixedOnesKept() {
        let stripped = DynamicSetListing.withoutDynamicElements(Self.listing)
        #expect(stripped.contains("elements = { 10.0.0.0/8 }"))
        #expect(!stripped.contains("10.77.0.10"))
        #expect(stripped.contains("\t\ttimeout 10m\n\t}"))
        let empty = Self.listing.replacingOccurrences(
            of:
                "\t\telements = { 10.77.0.100 expires 9m58s, 10.77.0.101 expires 9m59s,\n\t\t\t     10.77.0.102 expires 9m57s }\n",
            with: "")
        #expect(DynamicSetListing.withoutDynamicElements(empty) == stripped, "a new client changes nothing")
    }
}
