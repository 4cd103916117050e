import Testing
import SEVABI

struct NestingDepthTests {
    static let realPolicy = """
    # a policy as a user writes it
    measurement: 5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca1
    minimumTCB: bl=10,tee=0,snp=23,ucode=84
    trustedCSPs: ["CN=cc-us-east-2.amazonaws.com", 'it''s [quoted]']
    """
    static let realBenchConfig = """
    guests:
      - name: uk
        type: unikernel
        reps: 3
      - {name: lx, kernel: bzImage, cmdline: "console=ttyS0 a=[1]"}
    modes: [none, sev-snp]
    params:
      stream.size: 8M
    """

    @Test(arguments: [realPolicy, realBenchConfig, #"{"vmpl": 1, "trustedCSPs": ["]]]]", "{{"]}"#, "", "a: b[[[[c"])
    func realDocumentsPass(text: String) throws {
        try NestingDepth.check(text)
    }

    @Test func flowNestingOverTheLimitIsRefusedWithTheLine() {
        let deep = "a: 1\nb: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(throws: NestingDepth.TooDeep(line: 2, limit: NestingDepth.limit)) { try NestingDepth.check(deep) }
        let json = String(repeating: #"{"a":"#, count: 5000) + "1" + String(repeating: "}", count: 5000)
        #expect(throws: NestingDepth.TooDeep.self) { try NestingDepth.check(json) }
    }

    @Test func closingBracketsInsideQuotesDoNotHideDepth() {
        // Each level opens a list whose first item is a quoted "]": a count that ignored quoting would
        // see depth 0 here.
        let sneaky = String(repeating: #"["]", "#, count: 200) + String(repeating: "]", count: 200)
        #expect(throws: NestingDepth.TooDeep.self) { try NestingDepth.check(sneaky) }
        let comment = "[ # it's \" a comment\n" + String(repeating: "[", count: 100)
        #expect(throws: NestingDepth.TooDeep.self) { try NestingDepth.check(comment) }
    }

    @Test func blockNestingByIndentationOrCompactIndicatorsIsRefused() {
        let indented = (0..<100).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n")
        #expect(throws: NestingDepth.TooDeep.self) { try NestingDepth.check(indented) }
        let compact = String(repeating: "- ", count: 5000) + "x"
        #expect(throws: NestingDepth.TooDeep.self) { try NestingDepth.check(compact) }
    }

    @Test func depthJustUnderTheLimitPasses() throws {
        let levels = NestingDepth.limit - 2
        try NestingDepth.check("a: " + String(repeating: "[", count: levels) + String(repeating: "]", count: levels))
    }
}
