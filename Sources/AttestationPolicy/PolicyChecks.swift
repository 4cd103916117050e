import SEVABI
import SNPReport

/// The validation policy applied to a report whose signature is already known good (or not: the checks
/// run regardless so that every problem is named in one pass).
public enum PolicyChecks {
    public static func run(report: AttestationReport, product: SNPProduct, policy: ValidationPolicy) -> [Check] {
        var checks = [guestPolicyCheck(report: report, policy: policy)]
        let expected: [(String, String, [UInt8]?, [UInt8])] = [
            ("measurement", "MEASUREMENT", policy.measurement?.bytes, report.measurement),
            ("report-data", "REPORT_DATA", policy.reportData?.bytes, report.reportData),
            ("host-data", "HOST_DATA", policy.hostData?.bytes, report.hostData),
            ("id-key-digest", "ID_KEY_DIGEST", policy.idKeyDigest?.bytes, report.idKeyDigest),
            ("author-key-digest", "AUTHOR_KEY_DIGEST", policy.authorKeyDigest?.bytes, report.authorKeyDigest),
            ("family-id", "FAMILY_ID", policy.familyID?.bytes, report.familyID),
            ("image-id", "IMAGE_ID", policy.imageID?.bytes, report.imageID),
            ("chip-id", "CHIP_ID", policy.chipID?.bytes, report.chipID),
            ("report-id", "REPORT_ID", policy.reportID?.bytes, report.reportID),
            ("report-id-ma", "REPORT_ID_MA", policy.reportIDMA?.bytes, report.reportIDMA),
        ]
        for (name, field, want, actual) in expected {
            guard let want else { continue }
            checks.append(want == actual
                ? .pass(name, "\(field) is \(abbreviated(actual)) as expected")
                : .fail(name, "\(field) is \(abbreviated(actual)), expected \(abbreviated(want))"))
        }
        if let vmpl = policy.vmpl {
            checks.append(report.vmpl == vmpl ? .pass("vmpl", "VMPL \(report.vmpl)")
                                              : .fail("vmpl", "VMPL is \(report.vmpl), expected \(vmpl)"))
        }
        if let minimum = policy.minimumTCB {
            let named: [(String, TCBVersion)] = [
                ("REPORTED_TCB", report.reportedTCB(for: product)), ("CURRENT_TCB", report.currentTCB(for: product)),
                ("COMMITTED_TCB", report.committedTCB(for: product)),
            ]
            let low = named.filter { !minimum.isMet(by: $0.1) }
            checks.append(low.isEmpty
                ? .pass("min-tcb", "reported, current and committed TCB meet \(minimum)")
                : .fail("min-tcb", low.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + " below \(minimum)"))
        }
        if let minimum = policy.minimumLaunchTCB {
            let tcb = report.launchTCB(for: product)
            checks.append(minimum.isMet(by: tcb) ? .pass("min-launch-tcb", "LAUNCH_TCB \(tcb) meets \(minimum)")
                                                 : .fail("min-launch-tcb", "LAUNCH_TCB \(tcb) below \(minimum)"))
        }
        if let minimum = policy.minimumGuestSVN {
            checks.append(report.guestSVN >= minimum ? .pass("guest-svn", "GUEST_SVN \(report.guestSVN) ≥ \(minimum)")
                                                     : .fail("guest-svn", "GUEST_SVN \(report.guestSVN) < \(minimum)"))
        }
        if let minimum = policy.minimumBuild {
            let build = report.currentVersion.build
            checks.append(build >= UInt32(minimum) ? .pass("firmware-build", "firmware build \(build) ≥ \(minimum)")
                                           : .fail("firmware-build", "firmware build \(build) < \(minimum)"))
        }
        if let minimum = policy.minimumVersion {
            let have = report.currentVersion
            let text = "\(minimum.major).\(minimum.minor)"
            checks.append(have >= minimum ? .pass("firmware-version", "firmware \(have.major).\(have.minor) ≥ \(text)")
                                          : .fail("firmware-version", "firmware \(have.major).\(have.minor) < \(text)"))
        }
        if let minimum = policy.minimumReportVersion {
            checks.append(report.version >= minimum ? .pass("report-version", "report version \(report.version) ≥ \(minimum)")
                                                    : .fail("report-version", "report version \(report.version) < \(minimum)"))
        }
        if policy.requireAuthorKey {
            checks.append(report.signerInfo.authorKeyEnabled ? .pass("author-key", "AUTHOR_KEY_EN is set")
                                                             : .fail("author-key", "AUTHOR_KEY_EN is clear, the policy requires an author key"))
        }
        if policy.requireIDBlock {
            let present = report.idKeyDigest.contains { $0 != 0 }
            checks.append(present ? .pass("id-block", "launched with an ID block")
                                  : .fail("id-block", "ID_KEY_DIGEST is zero: launched without an ID block"))
        }
        if policy.forbidPlatformSMT || policy.requirePlatformTSME {
            var problems: [String] = []
            if policy.forbidPlatformSMT, report.platformInfo.smtEnabled { problems.append("SMT is enabled on the platform") }
            if policy.requirePlatformTSME, !report.platformInfo.tsmeEnabled { problems.append("TSME is not enabled") }
            checks.append(problems.isEmpty ? .pass("platform", "PLATFORM_INFO 0x\(String(report.platformInfo.raw, radix: 16)) acceptable")
                                           : .fail("platform", problems.joined(separator: "; ")))
        }
        return checks
    }

    static func guestPolicyCheck(report: AttestationReport, policy: ValidationPolicy) -> Check {
        let raw = report.policyRaw
        let flags = SNPPolicy.Flags(rawValue: raw)
        var problems: [String] = []
        if let want = policy.guestPolicy, want != raw {
            problems.append("POLICY is 0x\(String(raw, radix: 16)), expected 0x\(String(want, radix: 16))")
        }
        if flags.contains(.debug), !policy.allowDebug { problems.append("DEBUG is set and not allowed") }
        if flags.contains(.migrateMA), !policy.allowMigrateMA { problems.append("MIGRATE_MA is set and not allowed") }
        if flags.contains(.smt), !policy.allowSMT { problems.append("SMT is allowed by the guest policy and the verifier forbids it") }
        if !flags.contains(.singleSocket), policy.requireSingleSocket { problems.append("SINGLE_SOCKET is required") }
        if flags.contains(.cxlAllow), policy.forbidCXL { problems.append("CXL_ALLOW is set and forbidden") }
        if !flags.contains(.memAES256XTS), policy.requireMemAES256XTS { problems.append("MEM_AES_256_XTS is required") }
        if !flags.contains(.raplDisabled), policy.requireRAPLDisabled { problems.append("RAPL_DIS is required") }
        if !flags.contains(.ciphertextHidingDRAM), policy.requireCiphertextHiding { problems.append("CIPHERTEXT_HIDING_DRAM is required") }
        if !flags.contains(.pageSwapDisable), policy.requirePageSwapDisabled { problems.append("PAGE_SWAP_DISABLE is required") }
        let names = flags.chosenNames
        let summary = "POLICY 0x\(String(raw, radix: 16)) [\(names.joined(separator: " "))]"
        return problems.isEmpty ? .pass("guest-policy", summary) : .fail("guest-policy", summary + ": " + problems.joined(separator: "; "))
    }

    static func abbreviated(_ bytes: [UInt8]) -> String {
        let hex = bytes.hexString
        return hex.count > 24 ? String(hex.prefix(16)) + "…" + String(hex.suffix(8)) : hex
    }
}
