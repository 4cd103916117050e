import SNPReport

/// Minimum SPLs as a user writes them: `bl=3,tee=0,snp=8,ucode=115[,fmc=1]`.
public struct TCBRequirement: Sendable, Hashable, Codable, CustomStringConvertible {
    public var bootloader: UInt8
    public var tee: UInt8
    public var snp: UInt8
    public var microcode: UInt8
    public var fmc: UInt8?

    public init(bootloader: UInt8 = 0, tee: UInt8 = 0, snp: UInt8 = 0, microcode: UInt8 = 0, fmc: UInt8? = nil) {
        self.bootloader = bootloader
        self.tee = tee
        self.snp = snp
        self.microcode = microcode
        self.fmc = fmc
    }

    public init(parsing text: String) throws {
        self.init()
        for item in text.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, let value = UInt8(pair[1]) else { throw PolicyFileError.badTCB(text) }
            switch pair[0].lowercased() {
            case "bl", "bootloader": bootloader = value
            case "tee": tee = value
            case "snp": snp = value
            case "ucode", "microcode": microcode = value
            case "fmc": fmc = value
            default: throw PolicyFileError.badTCB(text)
            }
        }
    }

    /// Each part of `tcb` must be at least the required part; fmc is only compared on Turin layouts.
    public func isMet(by tcb: TCBVersion) -> Bool {
        guard tcb.bootloader >= bootloader, tcb.tee >= tee, tcb.snp >= snp, tcb.microcode >= microcode else { return false }
        if let fmc, let have = tcb.fmc { return have >= fmc }
        return true
    }

    public var description: String {
        var parts = ["bl=\(bootloader)", "tee=\(tee)", "snp=\(snp)", "ucode=\(microcode)"]
        if let fmc { parts.append("fmc=\(fmc)") }
        return parts.joined(separator: ",")
    }
}
