/// UCI text the importer tests share.
enum Mwan3Fixture {
    /// One enabled interface `wan`, its member `m` and a policy `p` using it: six lines, so the
    /// line numbers a test expects in notes count from 7 for what it appends.
    static let oneWanOnePolicy = """
        config interface wan
            option enabled 1
        config member m
            option interface wan
        config policy p
            list use_member m

        """
}
