import Launch
import SEVABI
import Testing

/// The one memory-size and the one guest-policy parser that run, vm and bench share.
struct InputParsingTests {
    @Test(arguments: [("512M", 512), ("512", 512), ("2G", 2048), ("1gib", 1024), (" 256MB ", 256), ("4096MiB", 4096)])
    func memorySizes(text: String, mebibytes: Int) {
        #expect(MemorySize.mebibytes(text) == mebibytes)
    }

    @Test(arguments: ["", "M", "1T", "-1G", "+5M", "1.5G", "1234567890M", "0x10M", "5 G"])
    func notMemorySizes(text: String) {
        #expect(MemorySize.mebibytes(text) == nil)
    }

    @Test func policiesFollowTheMode() throws {
        #expect(try GuestPolicy(parsing: "0x30000", mode: .sevSNP) == .snp(.default))
        #expect(try GuestPolicy(parsing: "5", mode: .sevES) == .sev(try SEVPolicy(rawValue: 5)))
        #expect(try GuestPolicy(parsing: "0x30000", mode: .none) == nil)
        #expect(throws: PolicyError.notANumber("0b101")) { try GuestPolicy(parsing: "0b101", mode: .sevSNP) }
        #expect(throws: PolicyError.mustBeOneClear(bit: 17)) { try GuestPolicy(parsing: "0x10000", mode: .sevSNP) }
        #expect(throws: PolicyError.reservedBitsSet(kind: "SEV", mask: 1 << 32)) { try GuestPolicy(parsing: "0x100000001", mode: .sev) }
    }
}
