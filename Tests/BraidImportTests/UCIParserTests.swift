import BraidImport
import Testing

@Suite struct UCIParserTests {
    @Test func readsWhatOpenWrtWrites() throws {
        let text = """
            config globals 'globals'
            \toption mmx_mask '0x3F00'

            config interface 'wan'
            \toption enabled '1'
            \tlist track_ip '1.0.0.1'
            \tlist track_ip '1.1.1.1'
            \toption family 'ipv4'
            """
        let document = try UCIParser.parse(text, file: "mwan3")
        #expect(document.sections.map(\.reference) == ["globals", "wan"])
        let wan = try #require(document.sections.last)
        #expect(wan.type == "interface")
        #expect(wan.values("track_ip") == ["1.0.0.1", "1.1.1.1"])
        #expect(wan.option("track_ip")?.line == 6)
        #expect(wan.value("family") == "ipv4")
        #expect(wan.line == 4)
    }

    @Test func readsHandEditedQuotingAndComments() throws {
        let text = """
            # rules first, policies after
            config rule https   # a comment after the name
                option proto tcp
                option dest_port "443"
                # a comment inside a section
                option use_policy 'balanced'
                option comment "say \\"hi\\" 'there'"
            config rule
              option dest_ip 10.0.0.0/8
            config rule
              option dest_ip '192.168.0.0/16'
            """
        let document = try UCIParser.parse(text, file: "mwan3")
        #expect(document.sections.map(\.reference) == ["https", "@rule[1]", "@rule[2]"])
        let https = document.sections[0]
        #expect(https.value("dest_port") == "443")
        #expect(https.value("use_policy") == "balanced")
        #expect(https.value("comment") == #"say "hi" 'there'"#)
        #expect(document.sections[2].value("dest_ip") == "192.168.0.0/16")
        #expect(document.sections[2].line == 10)
    }

    @Test func quotedValuesMaySpanLinesAndKeepLineNumbers() throws {
        let text = "config x 'a'\n\toption text 'one\ntwo'\n\toption next 'n'\n"
        let document = try UCIParser.parse(text, file: "f")
        #expect(document.sections[0].value("text") == "one\ntwo")
        #expect(document.sections[0].option("next")?.line == 4)
    }

    @Test func laterOptionReplacesAndListAppends() throws {
        let text = """
            config member m
                option weight 2
                option weight 3
                option metric 1
                list metric 2
            """
        let member = try UCIParser.parse(text, file: "f").sections[0]
        #expect(member.values("weight") == ["3"])
        #expect(member.values("metric") == ["1", "2"])
    }

    @Test func repeatedNamedSectionIsMerged() throws {
        let text = """
            config interface wan
                option enabled 1
            config interface wanb
            config interface wan
                option enabled 0
                option count 3
            """
        let document = try UCIParser.parse(text, file: "f")
        #expect(document.sections.count == 2)
        #expect(document.sections[0].value("enabled") == "0")
        #expect(document.sections[0].value("count") == "3")
    }

    @Test func windowsLineEndingsRead() throws {
        let document = try UCIParser.parse("config interface 'wan'\r\n\toption enabled '1'\r\n", file: "f")
        #expect(document.sections[0].value("enabled") == "1")
    }

    @Test(arguments: [
        ("config interface 'wan'\n\toption track_ip '1.1.1.1", 2, "never closed"),
        ("option enabled 1\n", 1, "before any `config`"),
        ("config\n", 1, "needs a section type"),
        ("config ''\n", 1, "needs a section type"),
        ("config interface wan\n\toption enabled\n", 2, "has no value"),
        ("config interface wan\n\toption label my label\n", 2, "too many words"),
        ("config interface wan\nconfg rule\n", 2, "unknown statement `confg`"),
        ("config interface wan-1\n", 1, "invalid section name 'wan-1'"),
        ("config inter.face wan\n", 1, "invalid section type"),
        ("config interface wan\nconfig rule wan\n", 2, "declared as `interface` on line 1"),
        ("config interface wan\n\toption track-ip 1.1.1.1\n", 2, "invalid option name"),
    ])
    func badInputNamesTheLine(text: String, line: Int, message: String) {
        #expect {
            try UCIParser.parse(text, file: "mwan3")
        } throws: { error in
            guard let error = error as? UCIParseError else { return false }
            return error.line == line && error.message.contains(message) && error.description.hasPrefix("mwan3:\(line): ")
        }
    }
}
