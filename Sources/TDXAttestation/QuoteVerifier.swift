import AttestationPolicy
import Certificates
import Crypto
import DCAPQuote
import Foundation
import SEVABI

/// What a quote must show beyond a valid signature chain.
public struct QuotePolicy: Sendable, Equatable {
    public var mrTD: [UInt8]?
    public var rtmrs: [Int: [UInt8]] = [:]
    public var reportData: [UInt8]?
    public var mrSignerSeam: [UInt8]?
    public var xfam: [UInt8]?
    /// TDATTRIBUTES.DEBUG (a host-readable TD) is refused unless allowed.
    public var allowDebug = false
    /// The lowest TEE_TCB_SVN accepted, compared component by component (16 SVN bytes of the TDX
    /// module's TCB, as Intel's TCB levels compare them).
    public var minimumTEETCBSVN: [UInt8]?
    /// TCB statuses accepted besides UpToDate when collateral is checked (a policy file's `acceptTcbStatus`).
    public var acceptedTCBStatuses: [String] = []
    public init() {}
}

/// A TDX quote policy file (`cvm attest verify QUOTE --policy FILE`, YAML or JSON): hex values of the
/// TD report and what else a quote must meet.
///
///     mrtd: <96 hex>            rtmr0 … rtmr3: <96 hex>     reportData: <up to 128 hex>
///     mrSignerSeam: <96 hex>    xfam: <16 hex>              allowDebug: false
///     minimumTeeTcbSvn: <32 hex>                            acceptTcbStatus: [SWHardeningNeeded, …]
extension QuotePolicy: Decodable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static let keys = ["mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "reportData", "mrSignerSeam", "xfam", "allowDebug",
                       "minimumTeeTcbSvn", "acceptTcbStatus"]

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: Key.self)
        for key in c.allKeys where !Self.keys.contains(key.stringValue) {
            throw PolicyFileError.unknownKey(key.stringValue, known: Self.keys)
        }
        func hex(_ name: String, count: Int?) throws -> [UInt8]? {
            guard let text = try c.decodeIfPresent(String.self, forKey: Key(stringValue: name)) else { return nil }
            let bytes: [UInt8]
            do { bytes = try [UInt8](hex: text) } catch { throw PolicyFileError.badHex(field: name, reason: "not hex: '\(text.prefix(40))'") }
            if let count, bytes.count != count { throw PolicyFileError.badHex(field: name, reason: "expected \(count) bytes, found \(bytes.count)") }
            return bytes
        }
        mrTD = try hex("mrtd", count: 48)
        for index in 0..<4 { if let value = try hex("rtmr\(index)", count: 48) { rtmrs[index] = value } }
        reportData = try hex("reportData", count: nil)
        if let reportData, reportData.count > 64 { throw PolicyFileError.badHex(field: "reportData", reason: "at most 64 bytes") }
        mrSignerSeam = try hex("mrSignerSeam", count: 48)
        xfam = try hex("xfam", count: 8)
        minimumTEETCBSVN = try hex("minimumTeeTcbSvn", count: 16)
        allowDebug = try c.decodeIfPresent(Bool.self, forKey: Key(stringValue: "allowDebug")) ?? false
        acceptedTCBStatuses = try c.decodeIfPresent([String].self, forKey: Key(stringValue: "acceptTcbStatus")) ?? []
        for name in acceptedTCBStatuses where TCBStatus(rawValue: name) == nil {
            throw PolicyFileError.badHex(field: "acceptTcbStatus", reason: "'\(name)' is none of \(TCBStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    public static func load(contentsOf text: String) throws -> QuotePolicy {
        try PolicyFile.decode(QuotePolicy.self, from: text)
    }
}

/// Verifies a DCAP quote's signatures: the PCK chain (leaf → PCK Platform/Processor CA → the pinned
/// Intel SGX Root CA, or `root` when a caller trusts another; each valid at `time`), the QE report
/// signed by the PCK key, the QE report data = SHA-256(attestation key ‖ QE authentication data), and the quote signed by the attestation key;
/// then the policy on the TD report. Collateral (TCB info, QE identity, CRLs) is a separate step.
public enum QuoteVerifier {
    public static func verify(_ quote: DCAPQuote, at time: Date = Date(), policy: QuotePolicy = QuotePolicy(),
                              root: Certificate? = IntelRoot.certificate) -> Verdict {
        var checks: [Check] = []
        let chain: [Certificate]
        do { chain = try Certificate.parseBundle(quote.pckChainPEM) } catch {
            return Verdict(product: "Intel \(quote.header.tee == .tdx ? "TDX" : "SGX")", signingKey: "PCK",
                           checks: [.fail("pck-chain", "the certification data's PEM chain is unreadable: \(error)")])
        }
        checks += chainChecks(chain, at: time, root: root)
        let leaf = chain.first
        checks.append(qeReportSignatureCheck(quote, leaf: leaf))
        checks.append(qeReportDataCheck(quote))
        checks.append(quoteSignatureCheck(quote))
        checks += policyChecks(quote, policy: policy)
        return Verdict(product: "Intel \(quote.header.tee == .tdx ? "TDX" : "SGX") quote v\(quote.header.version)",
                       signingKey: "PCK \(leaf?.subjectCommonName ?? "?")", checks: checks)
    }

    static func chainChecks(_ chain: [Certificate], at time: Date, root pinned: Certificate?) -> [Check] {
        guard chain.count == 3 else {
            return [.fail("pck-chain", "expected PCK, PCK CA and root (3 certificates), found \(chain.count)")]
        }
        var checks: [Check] = []
        let (leaf, intermediate, root) = (chain[0], chain[1], chain[2])
        guard let pinned else { return [.fail("root", "the embedded Intel SGX Root CA is damaged")] }
        let anchor = IntelRoot.name(of: pinned)
        checks.append(root.der == pinned.der
            ? .pass("root", "\(anchor), equal to the trusted root (SHA-256 \(pinned.fingerprintSHA256.lowercased().prefix(16))…)")
            : .fail("root", "the chain's root (\(root.subjectCommonName ?? "?"), SHA-256 \(root.fingerprintSHA256.prefix(16))…) is not \(anchor)"))
        checks.append(intermediate.isSigned(by: pinned)
            ? .pass("pck-ca", "\(intermediate.subjectCommonName ?? "PCK CA") is signed by \(anchor)")
            : .fail("pck-ca", "\(intermediate.subjectCommonName ?? "PCK CA") is not signed by \(anchor)"))
        checks.append(leaf.isSigned(by: intermediate)
            ? .pass("pck", "\(leaf.subjectCommonName ?? "PCK certificate") is signed by \(intermediate.subjectCommonName ?? "the PCK CA")")
            : .fail("pck", "\(leaf.subjectCommonName ?? "PCK certificate") is not signed by \(intermediate.subjectCommonName ?? "the PCK CA")"))
        let outside = [leaf, intermediate, root].filter { !$0.isValid(at: time) }.map { $0.subjectCommonName ?? "certificate" }
        checks.append(outside.isEmpty
            ? .pass("validity", "PCK chain valid at \(formatRFC3339(time))")
            : .fail("validity", "\(outside.joined(separator: ", ")) not valid at \(formatRFC3339(time))"))
        return checks
    }

    static func qeReportSignatureCheck(_ quote: DCAPQuote, leaf: Certificate?) -> Check {
        guard let leaf, case .p256(let key) = leaf.publicKey else {
            return .fail("qe-report-signature", "the PCK certificate has no P-256 key")
        }
        guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: quote.qeReportSignature),
              key.isValidSignature(signature, for: SHA256.hash(data: quote.qeReport.raw)) else {
            return .fail("qe-report-signature", "the QE report's ECDSA P-256 signature does not verify with the PCK key")
        }
        return .pass("qe-report-signature", "QE report signed by the PCK key")
    }

    static func qeReportDataCheck(_ quote: DCAPQuote) -> Check {
        let expected = Array(SHA256.hash(data: quote.attestationKey + quote.qeAuthenticationData))
        let data = quote.qeReport.reportData
        guard Array(data.prefix(32)) == expected, data.dropFirst(32).allSatisfy({ $0 == 0 }) else {
            return .fail("qe-report-data", "QE REPORTDATA is not SHA-256(attestation key ‖ QE authentication data) ‖ zeros")
        }
        return .pass("qe-report-data", "QE REPORTDATA binds the attestation key and the QE authentication data")
    }

    static func quoteSignatureCheck(_ quote: DCAPQuote) -> Check {
        guard let key = try? P256.Signing.PublicKey(rawRepresentation: quote.attestationKey) else {
            return .fail("quote-signature", "the attestation key is not a P-256 point")
        }
        guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: quote.signature),
              key.isValidSignature(signature, for: SHA256.hash(data: quote.signedBytes)) else {
            return .fail("quote-signature", "the quote's ECDSA P-256 signature over header and body does not verify with the attestation key")
        }
        return .pass("quote-signature", "header and \(quote.body.name) signed by the attestation key")
    }

    static func policyChecks(_ quote: DCAPQuote, policy: QuotePolicy) -> [Check] {
        var checks: [Check] = []
        func expect(_ name: String, _ found: [UInt8], _ wanted: [UInt8]?) {
            guard let wanted else { return }
            let padded = wanted.count < found.count && name == "report-data" ? wanted + [UInt8](repeating: 0, count: found.count - wanted.count) : wanted
            checks.append(found == padded ? .pass(name, "\(found.hexString.prefix(32))… as expected")
                                          : .fail(name, "\(found.hexString) is not the expected \(padded.hexString)"))
        }
        expect("report-data", quote.reportData, policy.reportData)
        switch quote.body {
        case .sgx:
            if policy.mrTD != nil || !policy.rtmrs.isEmpty { checks.append(.fail("tee", "an SGX quote has no MRTD or RTMRs")) }
        case .td10(let td), .td15(let td):
            checks.append(tdAttributesCheck(td, policy: policy))
            if let service = td.mrServiceTD, service.contains(where: { $0 != 0 }) {
                checks.append(.fail("mrservicetd", "MRSERVICETD is set: a service TD is bound to this TD"))
            }
            expect("mrtd", td.mrTD, policy.mrTD)
            for (index, value) in policy.rtmrs.sorted(by: { $0.key < $1.key }) where (0..<4).contains(index) {
                expect("rtmr\(index)", td.rtmrs[index], value)
            }
            expect("mrsignerseam", td.mrSignerSeam, policy.mrSignerSeam)
            expect("xfam", td.xfam, policy.xfam)
            if let minimum = policy.minimumTEETCBSVN {
                let below = zip(td.teeTCBSVN, minimum).enumerated().filter { $0.element.0 < $0.element.1 }.map(\.offset)
                checks.append(below.isEmpty ? .pass("tee-tcb-svn", "\(td.teeTCBSVN.hexString) ≥ \(minimum.hexString) in every component")
                                            : .fail("tee-tcb-svn", "TEE_TCB_SVN \(td.teeTCBSVN.hexString) is below the minimum \(minimum.hexString) in component(s) \(below.map(String.init).joined(separator: ", "))"))
            }
        }
        return checks
    }
}

extension QuoteVerifier {
    /// TDATTRIBUTES (64-bit): TUD bit 0 DEBUG (refused unless allowed), bits 1-7 reserved; SEC bit 28
    /// SEPT_VE_DISABLE (required: without it the host can inject #VE through EPT violations), bits
    /// 8-27 and 29 reserved, 30 PKS, 31 KL; OTHER bits 32-62 reserved, 63 PERFMON.
    static func tdAttributesCheck(_ td: DCAPQuote.TDReport, policy: QuotePolicy) -> Check {
        let a = td.tdAttributes
        var value: UInt64 = 0
        for (index, byte) in a.prefix(8).enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
        if value & TDAttributeBits.reserved != 0 {
            return .fail("td-attributes", "TDATTRIBUTES \(a.hexString) has reserved bits set")
        }
        if td.debug && !policy.allowDebug {
            return .fail("td-attributes", "TDATTRIBUTES.DEBUG is set: the host can read the TD's memory (allow with --allow-debug)")
        }
        if value & TDAttributeBits.septVEDisable == 0 {
            return .fail("td-attributes", "TDATTRIBUTES.SEPT_VE_DISABLE is clear: the host could inject #VE through EPT violations")
        }
        return .pass("td-attributes", "TDATTRIBUTES \(a.hexString): SEPT_VE_DISABLE\(td.debug ? ", DEBUG (allowed)" : "")")
    }

    /// With collateral: the TCB level of the platform, TDX module and QE, which passes when its status
    /// is one of `accepted` (default UpToDate only).
    public static func tcbLevelCheck(_ quote: DCAPQuote, pck: PCKExtensions?, collateral: QuoteCollateral,
                                     accepted: Set<TCBStatus> = [.upToDate]) -> Check {
        guard let pck else { return .fail("tcb-level", "the PCK certificate's SGX extension is unreadable") }
        do {
            let standing = try TCBEvaluator.evaluate(quote, pck: pck, collateral: collateral)
            let advisories = standing.advisories.isEmpty ? "" : " (advisories \(standing.advisories.joined(separator: ", ")))"
            return accepted.contains(standing.status)
                ? .pass("tcb-level", "\(standing.status.rawValue)\(advisories)")
                : .fail("tcb-level", "\(standing.status.rawValue)\(advisories); accepted: \(accepted.sorted().map(\.rawValue).joined(separator: ", "))")
        } catch {
            return .fail("tcb-level", "\(error)")
        }
    }
}

extension Array where Element == UInt8 {
    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}
