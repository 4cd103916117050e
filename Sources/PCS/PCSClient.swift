import CachedFetch
import Certificates
import Foundation
import SEVABI
import TDXAttestation

/// Fetches a quote's collateral from Intel PCS (or a PCCS) through `CachedFetcher`, checks every answer
/// before it is cached, and assembles dcap-qvl's QuoteCollateralV3 JSON, which `QuoteCollateral` reads.
/// TCB info, QE identity and the CRLs carry a nextUpdate; a cached one past it is fetched again
/// (offline, it is used and marked stale).
public struct PCSClient: Sendable {
    public var fetcher: CachedFetcher
    /// Intel's root CA CRL URL, or a path on the base URL (a PCCS's /sgx/certification/v4/rootcacrl).
    public var rootCACRL: String
    /// The time cached answers are judged current at.
    public var now: Date

    /// The fetcher's base URL is reduced by `PCS.baseURL`. With Intel's base URL the root CA CRL comes
    /// from Intel's certificate site; with any other (a PCCS) from the PCCS path on it, unless
    /// `rootCACRL` says otherwise.
    public init(fetcher: CachedFetcher, rootCACRL: String? = nil, now: Date = Date()) {
        self.fetcher = fetcher
        self.fetcher.baseURL = PCS.baseURL(fetcher.baseURL)
        self.rootCACRL = rootCACRL ?? (self.fetcher.baseURL == PCS.defaultBaseURL ? PCS.intelRootCACRLURL : PCS.pccsRootCACRLPath)
        self.now = now
    }

    /// $XDG_CACHE_HOME/cvm/pcs or ~/.cache/cvm/pcs.
    public static var defaultCacheDirectory: URL? { CachedFetcher.defaultCacheDirectory("pcs") }

    /// One of the four answers: what it is, and where it came from.
    public struct Part: Sendable {
        public let name: String
        public let response: CachedFetcher.Response
    }

    public struct Fetched: Sendable {
        public let collateral: QuoteCollateral.Layout
        /// The collateral as JSON, the file `cvm attest verify --collateral` reads.
        public let json: [UInt8]
        public let parts: [Part]
    }

    public func collateral(for platform: PCKPlatform) async throws -> Fetched {
        let now = self.now
        let pckCRL = try await fetcher.fetch(PCS.pckCRLPath(ca: platform.ca), keepHeaders: [PCS.IssuerChainHeader.pckCRL],
                                             isCurrent: { Self.isCurrent((try? RevocationList(bytes: $0))?.nextUpdate, at: now) }) { body, headers in
            _ = try RevocationList(bytes: body)
            _ = try Self.issuerChain(headers, [PCS.IssuerChainHeader.pckCRL])
        }
        let tcbInfo = try await signedAnswer(PCS.tcbInfoPath(tee: platform.tee, fmspc: platform.fmspc), member: "tcbInfo",
                                             headers: PCS.IssuerChainHeader.tcbInfo)
        let qeIdentity = try await signedAnswer(PCS.qeIdentityPath(tee: platform.tee), member: "enclaveIdentity",
                                                headers: [PCS.IssuerChainHeader.qeIdentity])
        let rootCRL = try await fetcher.fetch(rootCACRL, isCurrent: { Self.isCurrent((try? Self.rootCRL($0))?.nextUpdate, at: now) }) { body, _ in
            _ = try Self.rootCRL(body)
        }

        let tcb = try SignedAnswer(tcbInfo.bytes, member: "tcbInfo")
        let qe = try SignedAnswer(qeIdentity.bytes, member: "enclaveIdentity")
        let layout = QuoteCollateral.Layout(
            pck_crl_issuer_chain: try Self.issuerChain(pckCRL.headers, [PCS.IssuerChainHeader.pckCRL]),
            root_ca_crl: try Self.rootCRL(rootCRL.bytes).der.hexString,
            pck_crl: try RevocationList(bytes: pckCRL.bytes).der.hexString,
            tcb_info_issuer_chain: try Self.issuerChain(tcbInfo.headers, PCS.IssuerChainHeader.tcbInfo),
            tcb_info: String(decoding: tcb.signedJSON, as: UTF8.self),
            tcb_info_signature: tcb.signature.hexString,
            qe_identity_issuer_chain: try Self.issuerChain(qeIdentity.headers, [PCS.IssuerChainHeader.qeIdentity]),
            qe_identity: String(decoding: qe.signedJSON, as: UTF8.self),
            qe_identity_signature: qe.signature.hexString)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json = Array(try encoder.encode(layout))
        do { _ = try QuoteCollateral(json: json) } catch { throw PCS.Failure.unusable("the assembled collateral does not read back: \(error)") }
        return Fetched(collateral: layout, json: json, parts: [
            Part(name: "PCK CRL (\(platform.ca.rawValue))", response: pckCRL),
            Part(name: "TCB info (FMSPC \(platform.fmspcHex))", response: tcbInfo),
            Part(name: "QE identity", response: qeIdentity),
            Part(name: "root CA CRL", response: rootCRL),
        ])
    }

    /// TCB info or QE identity: current while before its nextUpdate, usable when the signed object, its
    /// signature and the issuer chain header all parse.
    func signedAnswer(_ path: String, member: String, headers: [String]) async throws -> CachedFetcher.Response {
        let now = self.now
        return try await fetcher.fetch(path, keepHeaders: headers,
                                       isCurrent: { Self.isCurrent((try? SignedAnswer($0, member: member))?.nextUpdate, at: now) }) { body, kept in
            _ = try SignedAnswer(body, member: member)
            _ = try Self.issuerChain(kept, headers)
        }
    }

    /// An answer without a nextUpdate never expires.
    static func isCurrent(_ nextUpdate: Date?, at now: Date) -> Bool { nextUpdate.map { now <= $0 } ?? true }

    /// The first of `names` present, URL-decoded into PEM that parses as at least one certificate.
    static func issuerChain(_ headers: [String: String], _ names: [String]) throws -> String {
        guard let encoded = names.lazy.compactMap({ headers[$0.lowercased()] }).first else {
            throw PCS.Failure.unusable("no \(names[0]) header")
        }
        guard let pem = encoded.removingPercentEncoding, let chain = try? Certificate.parseBundle(Array(pem.utf8)), !chain.isEmpty else {
            throw PCS.Failure.unusable("the \(names[0]) header is not a URL-encoded PEM certificate chain")
        }
        return pem
    }

    /// The root CA CRL as DER: Intel serves DER, a PCCS hex text of the DER.
    static func rootCRL(_ body: [UInt8]) throws -> RevocationList {
        if let crl = try? RevocationList(bytes: body) { return crl }
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let der = try? [UInt8](hex: text), let crl = try? RevocationList(bytes: der) else {
            throw PCS.Failure.unusable("the root CA CRL is neither DER nor hex of DER")
        }
        return crl
    }
}
