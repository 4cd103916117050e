import Foundation
import Testing
import SEVABI
@testable import Attestation
@testable import AttestationPolicy
@testable import Certificates
@testable import SNPReport

struct VerificationTests {
    func verify(_ name: String, report: AttestationReport? = nil, certificate: Certificate? = nil,
                product: SNPProduct? = nil, at time: Date? = nil, policy: ValidationPolicy = ValidationPolicy()) throws -> Verdict {
        try ReportVerifier.verify(report: report ?? Fixture.report(name),
                                  certificates: CertificateSet(endorsementKey: certificate ?? Fixture.endorsementKey(name)),
                                  product: product, at: time ?? Fixture.time(for: name), policy: policy)
    }

    func failedNames(_ verdict: Verdict) -> Set<String> { Set(verdict.failures.map(\.name)) }

    @Test(arguments: Fixture.cases)
    func everyVectorVerifies(name: String) throws {
        var policy = ValidationPolicy()
        policy.measurement = try Expected(Fixture.report(name).measurement)
        let verdict = try verify(name, policy: policy)
        #expect(verdict.passed, "\(verdict.failures)")
        #expect(verdict.checks.contains { $0.name == "report-signature" && $0.passed })
    }

    @Test func milanV2ProductComesFromTheCertificate() throws {
        #expect(try verify("milan-v2").product == "Milan")
    }

    @Test(arguments: [0x000, 0x090, 0x1A0, 0x29F])
    func oneFlippedBitInTheSignedAreaBreaksTheSignature(offset: Int) throws {
        var bytes = try Fixture.bytes("snp/genoa-v3/report.bin")
        bytes[offset] ^= 0x01
        let report = try AttestationReport(bytes: bytes)
        let verdict = try verify("genoa-v3", report: report, product: .genoa)
        #expect(failedNames(verdict).contains("report-signature"))
    }

    @Test(arguments: [0x2A0, 0x2E8])
    func aFlippedSignatureBitFails(offset: Int) throws {
        var bytes = try Fixture.bytes("snp/turin-v5/report.bin")
        bytes[offset] ^= 0x80
        let verdict = try verify("turin-v5", report: AttestationReport(bytes: bytes))
        #expect(failedNames(verdict) == ["report-signature"])
    }

    @Test func theVCEKOfAnotherChipFails() throws {
        // milan-v2 and milan-vlek... use the Genoa VCEK for the Milan v2 report, forced as Milan
        // (same product, other chip): hwID and signature must both fail.
        let other = try Fixture.endorsementKey("milan-v2")
        var bytes = try Fixture.bytes("snp/milan-v2/report.bin")
        bytes[0x1A0] ^= 0xFF  // a report claiming another chip, with the original VCEK
        let verdict = try verify("milan-v2", report: AttestationReport(bytes: bytes), certificate: other)
        #expect(failedNames(verdict).isSuperset(of: ["hwid", "report-signature"]))
        let genoa = try verify("genoa-v3", certificate: Fixture.endorsementKey("turin-v5"), product: .genoa)
        #expect(failedNames(genoa).isSuperset(of: ["endorsement-key", "report-signature", "hwid"]))
    }

    @Test func forcingTheWrongProductsRootsFails() throws {
        let verdict = try verify("milan-v2", product: .genoa)
        #expect(failedNames(verdict).contains("endorsement-key"))
        #expect(failedNames(verdict).contains("product"))
    }

    @Test func differentExpectedMeasurementFails() throws {
        var policy = ValidationPolicy()
        policy.measurement = try Expected([UInt8](repeating: 0xab, count: 48))
        let verdict = try verify("genoa-v3", policy: policy)
        #expect(failedNames(verdict) == ["measurement"])
    }

    @Test func differentExpectedReportDataFails() throws {
        var policy = ValidationPolicy()
        policy.reportData = try Expected(hex: "00112233")
        #expect(failedNames(try verify("turin-v5", policy: policy)) == ["report-data"])
        policy.reportData = try Expected(Fixture.report("turin-v5").reportData)
        #expect(try verify("turin-v5", policy: policy).passed)
    }

    @Test func debugIsRefusedUnlessAllowed() throws {
        // A DEBUG report cannot be re-signed, so the policy check is exercised on the real report with
        // bit 19 set: the signature fails too, and the guest-policy check names DEBUG.
        var bytes = try Fixture.bytes("snp/genoa-v3/report.bin")
        bytes[0x00A] |= 0x08
        let report = try AttestationReport(bytes: bytes)
        let refused = try verify("genoa-v3", report: report)
        let policyCheck = refused.checks.first { $0.name == "guest-policy" }
        #expect(policyCheck?.passed == false)
        #expect(policyCheck?.detail.contains("DEBUG is set and not allowed") == true)
        var allow = ValidationPolicy()
        allow.allowDebug = true
        #expect(try verify("genoa-v3", report: report, policy: allow).checks.first { $0.name == "guest-policy" }?.passed == true)
    }

    @Test func timeOutsideValidityFails() throws {
        let before = try verify("genoa-v3", at: Date(timeIntervalSince1970: 1_600_000_000))
        #expect(failedNames(before) == ["validity"])
        #expect(before.failures.first?.detail.contains("not valid before") == true)
        let vlekNow = try verify("milan-vlek-v3", at: Date(timeIntervalSince1970: 1_780_000_000))
        #expect(failedNames(vlekNow) == ["validity"])
        #expect(vlekNow.failures.first?.detail.contains("SEV-VLEK expired at 2025-12-10") == true)
    }

    @Test func signingKeyNoneAndReservedAreRejected() throws {
        var bytes = try Fixture.bytes("snp/genoa-v3/report.bin")
        bytes[0x048] = 7 << 2
        let none = try verify("genoa-v3", report: AttestationReport(bytes: bytes))
        #expect(none.checks.first { $0.name == "signer" }?.detail.contains("none") == true)
        bytes[0x048] = 3 << 2
        #expect(failedNames(try verify("genoa-v3", report: AttestationReport(bytes: bytes))).contains("signer"))
    }

    @Test func reservedBytesMustBeZero() throws {
        var bytes = try Fixture.bytes("snp/genoa-v3/report.bin")
        bytes[0x400] = 1  // reserved tail after the signature, outside the signed area
        #expect(failedNames(try verify("genoa-v3", report: AttestationReport(bytes: bytes))) == ["report-format"])
    }

    @Test func policyDefaultsAndVMPL() throws {
        var policy = ValidationPolicy()
        policy.vmpl = 0
        #expect(failedNames(try verify("milan-vlek-v3", policy: policy)) == ["vmpl"])
        policy.vmpl = 1
        #expect(try verify("milan-vlek-v3", policy: policy).passed)
        var noSMT = ValidationPolicy()
        noSMT.allowSMT = false
        #expect(failedNames(try verify("genoa-v3", policy: noSMT)) == ["guest-policy"])
    }

    @Test func minimumTCB() throws {
        var policy = ValidationPolicy()
        policy.minimumTCB = try TCBRequirement(parsing: "bl=10,tee=0,snp=23,ucode=84")
        #expect(try verify("genoa-v3", policy: policy).passed)
        policy.minimumTCB = try TCBRequirement(parsing: "bl=10,tee=0,snp=24,ucode=84")
        #expect(failedNames(try verify("genoa-v3", policy: policy)) == ["min-tcb"])
        policy.minimumTCB = try TCBRequirement(parsing: "bl=1,tee=1,snp=4,ucode=81,fmc=2")
        #expect(failedNames(try verify("turin-v5", policy: policy)) == ["min-tcb"])
    }

    @Test func chainVerifiedOnceServesManyReports() throws {
        let report = try Fixture.report("turin-v5")
        let chain = try VerifiedChain(certificates: CertificateSet(endorsementKey: Fixture.endorsementKey("turin-v5")),
                                      product: .turin, kind: .vcek, at: Date())
        for _ in 0..<3 { #expect(ReportVerifier.verify(report: report, chain: chain).passed) }
    }

    @Test func policyFilesInYAMLAndJSON() throws {
        let yaml = """
        measurement: 5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca1
        minimumTCB: bl=10,tee=0,snp=23,ucode=84
        allowDebug: false
        requireSingleSocket: true
        """
        let policy = try ValidationPolicy.load(contentsOf: yaml)
        #expect(policy.requireSingleSocket && policy.allowSMT && !policy.allowDebug)
        #expect(failedNames(try verify("genoa-v3", policy: policy)) == ["guest-policy"])
        let json = #"{"vmpl": 1, "allowVLEK": true, "trustedCSPs": ["CN=cc-us-east-2.amazonaws.com"]}"#
        #expect(try verify("milan-vlek-v3", policy: ValidationPolicy.load(contentsOf: json)).passed)
        #expect(throws: PolicyFileError.self) { try ValidationPolicy.load(contentsOf: "measurement: abc") }
        #expect(throws: PolicyFileError.self) { try ValidationPolicy.load(contentsOf: #"{"vmpl": "x"}"#) }
    }

    /// A misspelt key must not switch a check off: `mesurement:` would leave the measurement unchecked.
    @Test func unknownPolicyKeysAreRefusedAndNamed() throws {
        let wrong = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        #expect(throws: PolicyFileError.unknownKey("mesurement", known: ValidationPolicy.keys)) {
            try ValidationPolicy.load(contentsOf: "mesurement: \(wrong)")
        }
        #expect(throws: PolicyFileError.unknownKey("allowdebug", known: ValidationPolicy.keys)) {
            try ValidationPolicy.load(contentsOf: #"{"vmpl": 0, "allowdebug": true}"#)
        }
        // The correctly spelt key does check, and fails this report.
        #expect(failedNames(try verify("genoa-v3", policy: ValidationPolicy.load(contentsOf: "measurement: \(wrong)"))) == ["measurement"])
    }

    @Test func deeplyNestedPolicyFilesAreRefusedBeforeParsing() {
        let yaml = "trustedCSPs: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(throws: PolicyFileError.self) { try ValidationPolicy.load(contentsOf: yaml) }
        let json = #"{"trustedCSPs": "# + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "}"
        #expect(throws: PolicyFileError.self) { try ValidationPolicy.load(contentsOf: json) }
    }

    /// Typed expectations: a wrong length or bad hex is refused when the policy is built, naming the field.
    @Test func expectationsAreCheckedWhenBuilt() throws {
        #expect(throws: PolicyFileError.badHex(field: "measurement", reason: "expected 48 bytes, found 2")) {
            try Expected<MeasurementField>(hex: "abcd")
        }
        #expect(throws: PolicyFileError.self) { try Expected<HostDataField>(hex: "zz") }
        #expect(try Expected<ReportDataField>(hex: "0011").bytes == [0, 0x11] + [UInt8](repeating: 0, count: 62))
        #expect(throws: PolicyFileError.badHex(field: "hostData", reason: "expected 32 bytes, found 33")) {
            try ValidationPolicy.load(contentsOf: "hostData: " + String(repeating: "00", count: 33))
        }
        let policy = try ValidationPolicy.load(contentsOf: "guestPolicy: 0x30000\nminimumVersion: \"1.55\"")
        #expect(policy.guestPolicy == 0x30000 && policy.minimumVersion == FirmwareVersion(major: 1, minor: 55))
        #expect(throws: PolicyFileError.self) { try ValidationPolicy.load(contentsOf: "guestPolicy: 0b1") }
        #expect(throws: PolicyFileError.self) { try ValidationPolicy.load(contentsOf: "minimumVersion: \"1.2.3\"") }
        // What is printed (--print-policy) reads back as the same policy.
        let json = try JSONEncoder().encode(policy)
        #expect(try ValidationPolicy.load(contentsOf: String(decoding: json, as: UTF8.self)) == policy)
    }
}
