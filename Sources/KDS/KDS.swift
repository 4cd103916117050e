import CachedFetch
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

/// KDS failures are the fetch engine's; the name stays for callers that match on it.
public typealias KDSError = FetchError
