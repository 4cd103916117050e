import AttestationPolicy
import Foundation
import TDXAttestation
import GuestImage
import Measurement
import SEVABI
import Yams

/// One launch the relying party accepts: a measurement and whether it covers the kernel, initrd and
/// command line (a firmware with a kernel-hashes table) or only the firmware.
public struct AcceptedLaunch: Sendable, Equatable {
    public var measurement: [UInt8]
    public var coversKernel: Bool
    /// Where it came from, for the log: "policy" or "bundle DIR mode=… vcpus=…".
    public var origin: String

    public init(measurement: [UInt8], coversKernel: Bool, origin: String) {
        self.measurement = measurement
        self.coversKernel = coversKernel
        self.origin = origin
    }
}

/// Where the relying party finds the VCEK/VLEK chain of a report.
public enum ChainSource: String, Codable, Sendable, CaseIterable {
    /// The certificate table the guest sent with its report (the host's extended guest request data).
    case report
    /// AMD KDS through the cache (and only the cache with `offline`).
    case kds
    /// The guest's table when it holds the endorsement key, else KDS.
    case auto
}

/// What a guest must show before any secret leaves: the report rules of `cvm attest verify --policy`
/// (`report:`) and the relying party's own: accepted measurements, whether guests whose kernel is not
/// measured are allowed, the chain source and the session lifetime.
public struct RelyingPartyPolicy: Sendable, Decodable {
    public var launches: [AcceptedLaunch] = []
    public var allowUncoveredKernel = false
    public var chain: ChainSource = .auto
    public var kdsCache: String?
    public var offline = false
    /// Seconds from challenge to the last resource request of a session.
    public var sessionTimeout: Double = 60
    public var report = ValidationPolicy()
    /// TDX guests, whose evidence is a DCAP quote; nil: only SEV-SNP guests are accepted.
    public var tdx: TDXRules?

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case measurements, allowUncoveredKernel, chain, kdsCache, offline, sessionTimeout, report, tdx
    }

    public init(from decoder: any Decoder) throws {
        let known = CodingKeys.allCases.map(\.rawValue)
        for key in try decoder.container(keyedBy: WrittenKey.self).allKeys where !known.contains(key.stringValue) {
            throw PolicyFileError.unknownKey(key.stringValue, known: known)
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        for hex in try c.decodeIfPresent([String].self, forKey: .measurements) ?? [] {
            let expected = try Expected<MeasurementField>(hex: hex)
            // A measurement written into the policy is taken as the author's statement that it covers
            // what they meant; only a bundle knows whether its firmware measures the kernel.
            launches.append(AcceptedLaunch(measurement: expected.bytes, coversKernel: true, origin: "policy"))
        }
        allowUncoveredKernel = try c.decodeIfPresent(Bool.self, forKey: .allowUncoveredKernel) ?? false
        chain = try c.decodeIfPresent(ChainSource.self, forKey: .chain) ?? .auto
        kdsCache = try c.decodeIfPresent(String.self, forKey: .kdsCache)
        offline = try c.decodeIfPresent(Bool.self, forKey: .offline) ?? false
        sessionTimeout = try c.decodeIfPresent(Double.self, forKey: .sessionTimeout) ?? 60
        guard sessionTimeout > 0, sessionTimeout <= 3600 else {
            throw PolicyFileError.unreadable("sessionTimeout must be between 0 and 3600 seconds, found \(sessionTimeout)")
        }
        report = try c.decodeIfPresent(ValidationPolicy.self, forKey: .report) ?? ValidationPolicy()
        tdx = try c.decodeIfPresent(TDXRules.self, forKey: .tdx)
        if report.measurement != nil {
            throw PolicyFileError.unreadable("report.measurement: give accepted measurements as the top-level list `measurements:`")
        }
        if report.reportData != nil {
            throw PolicyFileError.unreadable("report.reportData: REPORT_DATA is the session's binding, it cannot be fixed in a policy")
        }
    }

    /// Reads a policy file: JSON when it starts with `{`, YAML otherwise.
    public static func load(contentsOf text: String) throws -> RelyingPartyPolicy {
        try PolicyFile.decode(RelyingPartyPolicy.self, from: text)
    }

    /// The accepted launches of a guest bundle: every SEV-SNP row of its manifest's measurement table.
    public static func launches(fromBundle directory: URL) throws -> [AcceptedLaunch] {
        let bundle = try GuestBundle.load(from: directory, verify: false)
        guard let record = bundle.manifest.launchMeasurement else {
            throw PolicyFileError.unreadable("\(directory.path): the bundle's manifest has no launch measurement (build it with a firmware: cvm image … --firmware)")
        }
        let rows = record.measurements.filter { $0.mode == LaunchMode.sevSNP.rawValue }
        guard !rows.isEmpty else {
            throw PolicyFileError.unreadable("\(directory.path): the bundle's manifest lists no sev-snp measurement")
        }
        return try rows.map { row in
            let expected = try Expected<MeasurementField>(hex: row.measurement)
            var origin = "bundle \(directory.lastPathComponent) mode=\(row.mode)"
            if let vcpus = row.vcpus { origin += " vcpus=\(vcpus)" }
            if let type = row.vcpuType { origin += " vcpu-type=\(type)" }
            return AcceptedLaunch(measurement: expected.bytes, coversKernel: record.coversKernelInitrdCmdline, origin: origin)
        }
    }
}

/// `tdx:` of a relying-party policy: TDX guests attest with a DCAP quote, judged with the collateral
/// file (TCB info, QE identity and CRLs in the layout dcap-qvl writes; required, since without it the
/// platform's TCB status and revocation are unknown), the rules of `cvm attest verify QUOTE --policy`
/// (`quote:`) and the accepted MRTDs. A TD's kernel, initrd and command line are in RTMR1/RTMR2, not
/// MRTD: a guest counts as covering its kernel when `quote:` pins both.
///
///     tdx:
///       mrtds: [<96 hex>, …]
///       collateral: /etc/cvm/tdx-collateral.json
///       quote: { rtmr1: …, rtmr2: …, minimumTeeTcbSvn: …, acceptTcbStatus: [SWHardeningNeeded] }
public struct TDXRules: Sendable, Decodable {
    public var mrtds: [[UInt8]] = []
    public var collateral: String
    public var quote = QuotePolicy()

    public init(mrtds: [[UInt8]], collateral: String, quote: QuotePolicy = QuotePolicy()) {
        self.mrtds = mrtds
        self.collateral = collateral
        self.quote = quote
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case mrtds, collateral, quote }

    public var coversKernel: Bool { quote.rtmrs[1] != nil && quote.rtmrs[2] != nil }

    public init(from decoder: any Decoder) throws {
        let known = CodingKeys.allCases.map(\.rawValue)
        for key in try decoder.container(keyedBy: WrittenKey.self).allKeys where !known.contains(key.stringValue) {
            throw PolicyFileError.unknownKey("tdx.\(key.stringValue)", known: known)
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        for text in try c.decodeIfPresent([String].self, forKey: .mrtds) ?? [] {
            guard let bytes = try? [UInt8](hex: text), bytes.count == 48 else {
                throw PolicyFileError.badHex(field: "tdx.mrtds", reason: "expected 48 bytes of hex, found '\(text.prefix(40))'")
            }
            mrtds.append(bytes)
        }
        guard let path = try c.decodeIfPresent(String.self, forKey: .collateral) else {
            throw PolicyFileError.unreadable("tdx.collateral: the TCB info, QE identity and CRLs are needed to judge a TD (give the collateral file)")
        }
        collateral = path
        quote = try c.decodeIfPresent(QuotePolicy.self, forKey: .quote) ?? QuotePolicy()
        if quote.mrTD != nil { throw PolicyFileError.unreadable("tdx.quote.mrtd: give accepted MRTDs as the list tdx.mrtds") }
        if quote.reportData != nil { throw PolicyFileError.unreadable("tdx.quote.reportData: REPORT_DATA is the session's binding") }
    }
}
