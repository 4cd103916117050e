import Foundation
import SEVABI
import SNPReport

/// AMD Key Distribution Service paths (VCEK spec 57230, "KDS Interface"). The base URL is configurable
/// so a mirror, a proxy or a test server can stand in for https://kdsintf.amd.com.
public enum KDS {
    public static let defaultBaseURL = "https://kdsintf.amd.com"

    /// `vcek` certificates are per chip and TCB; `vlek` only offers the chain and CRL (VLEKs are
    /// provisioned to cloud providers, not fetched by chip id).
    public enum Endorsement: String, Sendable {
        case vcek, vlek
    }

    /// /vcek/v1/{Product}/{hex CHIP_ID}?blSPL=&teeSPL=&snpSPL=&ucodeSPL= ; Turin uses the 8-byte id and
    /// puts fmcSPL first.
    public static func vcekPath(product: SNPProduct, chipID: [UInt8], tcb: TCBVersion) -> String {
        let id = Array(chipID.prefix(product.chipIDLength)).hexString
        var query: [String] = []
        if product.usesTurinLayout { query.append("fmcSPL=\(tcb.fmc ?? 0)") }
        query += ["blSPL=\(tcb.bootloader)", "teeSPL=\(tcb.tee)", "snpSPL=\(tcb.snp)", "ucodeSPL=\(tcb.microcode)"]
        return "/vcek/v1/\(product.rawValue)/\(id)?" + query.joined(separator: "&")
    }

    /// The VCEK path for a report: its CHIP_ID and REPORTED_TCB.
    public static func vcekPath(for report: AttestationReport, product: SNPProduct) -> String {
        vcekPath(product: product, chipID: report.chipID, tcb: report.reportedTCB(for: product))
    }

    /// /{vcek|vlek}/v1/{Product}/cert_chain: PEM, ASK (or ASVK) then ARK.
    public static func chainPath(product: SNPProduct, endorsement: Endorsement = .vcek) -> String {
        "/\(endorsement.rawValue)/v1/\(product.rawValue)/cert_chain"
    }

    /// /{vcek|vlek}/v1/{Product}/crl: DER, signed by the ARK.
    public static func crlPath(product: SNPProduct, endorsement: Endorsement = .vcek) -> String {
        "/\(endorsement.rawValue)/v1/\(product.rawValue)/crl"
    }
}

public enum KDSError: Error, Equatable, CustomStringConvertible, Sendable {
    case notFound(url: String)
    case offlineMiss(path: String)
    case httpStatus(url: String, status: Int)
    case corruptBody(url: String, reason: String)
    case transport(url: String, reason: String)
    case gaveUp(url: String, attempts: Int, last: String)
    case badBaseURL(String)

    public var description: String {
        switch self {
        case .notFound(let url): return "KDS has no such object (404): \(url)"
        case .offlineMiss(let path): return "offline and not in the cache: \(path)"
        case let .httpStatus(url, status): return "KDS answered HTTP \(status) for \(url)"
        case let .corruptBody(url, reason): return "KDS answer for \(url) is not usable: \(reason)"
        case let .transport(url, reason): return "cannot reach \(url): \(reason)"
        case let .gaveUp(url, attempts, last): return "gave up on \(url) after \(attempts) attempts; last error: \(last)"
        case .badBaseURL(let text): return "not a usable base URL: '\(text)'"
        }
    }
}
