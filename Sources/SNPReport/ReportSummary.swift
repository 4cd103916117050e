import SEVABI

/// A report rendered for people and for `--json`: names for policy and platform bits, TCB parts per
/// generation, hex digests. Shapes are stable (keys sorted by the JSON encoder).
public struct ReportSummary: Sendable, Codable, Equatable {
    public struct TCB: Sendable, Codable, Equatable {
        public let raw: String
        public let fmc: UInt8?
        public let bootloader: UInt8
        public let tee: UInt8
        public let snp: UInt8
        public let microcode: UInt8

        init(_ tcb: TCBVersion) {
            raw = "0x" + String(tcb.raw, radix: 16)
            fmc = tcb.fmc
            bootloader = tcb.bootloader
            tee = tcb.tee
            snp = tcb.snp
            microcode = tcb.microcode
        }
    }

    public let version: UInt32
    public let layout: Int
    public let product: String?
    public let cpuid: String?
    public let guestSVN: UInt32
    public let policy: String
    public let policyFlags: [String]
    public let abi: String
    public let vmpl: UInt32
    public let signatureAlgorithm: UInt32
    public let signingKey: String
    public let authorKeyEnabled: Bool
    public let maskChipKey: Bool
    public let platformInfo: String
    public let platformFlags: [String]
    public let platformUnknownBits: String?
    public let currentTCB: TCB
    public let reportedTCB: TCB
    public let committedTCB: TCB
    public let launchTCB: TCB
    public let currentFirmware: String
    public let committedFirmware: String
    public let reportData: String
    public let measurement: String
    public let hostData: String
    public let idKeyDigest: String
    public let authorKeyDigest: String
    public let familyID: String
    public let imageID: String
    public let reportID: String
    public let reportIDMA: String
    public let chipID: String
    public let launchMitigationVector: String?
    public let currentMitigationVector: String?
    public let signatureR: String
    public let signatureS: String
    public let warnings: [String]

    /// `product` overrides the report's own CPUID-based product (needed to split v2 TCBs correctly).
    public init(_ report: AttestationReport, product: SNPProduct? = nil) {
        let chosen = product ?? report.product
        var notes = report.warnings
        if chosen == nil {
            notes.append("product unknown (v\(report.version) report without CPUID fields): TCB shown in the Milan/Genoa layout; use --product")
        }
        version = report.version
        layout = report.layoutVersion
        self.product = chosen?.rawValue
        if let family = report.cpuidFamily, let model = report.cpuidModel, let stepping = report.cpuidStepping {
            cpuid = "family 0x\(String(family, radix: 16)) model 0x\(String(model, radix: 16)) stepping 0x\(String(stepping, radix: 16))"
        } else {
            cpuid = nil
        }
        guestSVN = report.guestSVN
        policy = "0x" + String(report.policyRaw, radix: 16)
        policyFlags = SNPPolicy.Flags(rawValue: report.policyRaw).chosenNames
        abi = "\(UInt8(truncatingIfNeeded: report.policyRaw >> 8)).\(UInt8(truncatingIfNeeded: report.policyRaw))"
        vmpl = report.vmpl
        signatureAlgorithm = report.signatureAlgorithm
        signingKey = report.signerInfo.signingKey.description
        authorKeyEnabled = report.signerInfo.authorKeyEnabled
        maskChipKey = report.signerInfo.maskChipKey
        platformInfo = "0x" + String(report.platformInfo.raw, radix: 16)
        platformFlags = report.platformInfo.setNames
        platformUnknownBits = report.platformInfo.unknownBits == 0 ? nil : "0x" + String(report.platformInfo.unknownBits, radix: 16)
        currentTCB = TCB(report.currentTCB(for: chosen))
        reportedTCB = TCB(report.reportedTCB(for: chosen))
        committedTCB = TCB(report.committedTCB(for: chosen))
        launchTCB = TCB(report.launchTCB(for: chosen))
        currentFirmware = report.currentVersion.description
        committedFirmware = report.committedVersion.description
        reportData = report.reportData.hexString
        measurement = report.measurement.hexString
        hostData = report.hostData.hexString
        idKeyDigest = report.idKeyDigest.hexString
        authorKeyDigest = report.authorKeyDigest.hexString
        familyID = report.familyID.hexString
        imageID = report.imageID.hexString
        reportID = report.reportID.hexString
        reportIDMA = report.reportIDMA.hexString
        chipID = report.chipIDPrefix(for: chosen).hexString
        launchMitigationVector = report.launchMitigationVector.map { "0x" + String($0, radix: 16) }
        currentMitigationVector = report.currentMitigationVector.map { "0x" + String($0, radix: 16) }
        signatureR = report.signatureR.prefix(48).hexString
        signatureS = report.signatureS.prefix(48).hexString
        warnings = notes
    }

    /// Multi-line text for a person.
    public var text: String {
        func tcb(_ t: TCB) -> String {
            var parts: [String] = []
            if let fmc = t.fmc { parts.append("fmc=\(fmc)") }
            parts += ["bl=\(t.bootloader)", "tee=\(t.tee)", "snp=\(t.snp)", "ucode=\(t.microcode)"]
            return "\(t.raw) (\(parts.joined(separator: " ")))"
        }
        var rows: [(String, String)] = [
            ("version", "\(version)" + (layout != Int(version) ? " (read with the v\(layout) layout)" : "")),
            ("product", (product ?? "unknown") + (cpuid.map { " (CPUID \($0))" } ?? "")),
            ("guest SVN", "\(guestSVN)"),
            ("policy", "\(policy) [\(policyFlags.joined(separator: " "))] ABI ≥ \(abi)"),
            ("VMPL", "\(vmpl)"),
            ("signature algo", "\(signatureAlgorithm)" + (signatureAlgorithm == 1 ? " (ECDSA P-384 with SHA-384)" : " (unknown)")),
            ("signing key", "\(signingKey); author key \(authorKeyEnabled ? "enabled" : "not enabled"); chip key \(maskChipKey ? "masked" : "not masked")"),
            ("platform info", "\(platformInfo) [\(platformFlags.joined(separator: " "))]" + (platformUnknownBits.map { " unknown bits \($0)" } ?? "")),
            ("current TCB", tcb(currentTCB)),
            ("reported TCB", tcb(reportedTCB)),
            ("committed TCB", tcb(committedTCB)),
            ("launch TCB", tcb(launchTCB)),
            ("firmware", "current \(currentFirmware), committed \(committedFirmware)"),
            ("measurement", measurement),
            ("report data", reportData),
            ("host data", hostData),
            ("ID key digest", idKeyDigest),
            ("author key digest", authorKeyDigest),
            ("family ID", familyID),
            ("image ID", imageID),
            ("report ID", reportID),
            ("report ID MA", reportIDMA),
            ("chip ID", chipID),
        ]
        if let launchMitigationVector, let currentMitigationVector {
            rows.append(("mitigation vector", "launch \(launchMitigationVector), current \(currentMitigationVector)"))
        }
        rows.append(("signature R", signatureR))
        rows.append(("signature S", signatureS))
        var lines = ["SEV-SNP attestation report"]
        for (label, value) in rows {
            lines.append("  " + label.padding(toLength: 18, withPad: " ", startingAt: 0) + value)
        }
        lines += warnings.map { "  warning: \($0)" }
        return lines.joined(separator: "\n")
    }
}
