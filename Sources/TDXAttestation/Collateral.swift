import AttestationPolicy
import Certificates
import Crypto
import Foundation
import SEVABI

/// The collateral a DCAP quote is judged with, in dcap-qvl's QuoteCollateralV3 JSON layout (Intel PCS's
/// answers: issuer chains in PEM, CRLs as DER hex, TCB info and QE identity as the signed raw JSON with
/// their ECDSA P-256 signatures in hex).
public struct QuoteCollateral: Sendable {
    public let pckCRLIssuerChain: [Certificate]
    public let rootCACRL: RevocationList
    public let pckCRL: RevocationList
    public let tcbInfoIssuerChain: [Certificate]
    /// The signed bytes, exactly as Intel signed them.
    public let tcbInfoJSON: [UInt8]
    public let tcbInfoSignature: [UInt8]
    public let qeIdentityIssuerChain: [Certificate]
    public let qeIdentityJSON: [UInt8]
    public let qeIdentitySignature: [UInt8]
    public let tcbInfo: TCBInfo
    public let qeIdentity: QEIdentity
    /// The TCB levels and the QE identity policy, decoded once here for every TCB evaluation; nil with the
    /// reason when the JSON lacks them (the evaluation then refuses with it).
    let levels: TCBInfoLevels?
    let qePolicy: QEIdentityPolicy?
    let levelsProblem: String?

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unreadable(String)
        public var description: String {
            switch self { case .unreadable(let what): return "collateral: \(what)" }
        }
    }

    public struct TCBInfo: Decodable, Sendable {
        public var id: String?
        public var version: Int
        public var issueDate: String
        public var nextUpdate: String
        public var fmspc: String
        public var pceId: String
    }

    public struct QEIdentity: Decodable, Sendable {
        public var id: String
        public var version: Int
        public var issueDate: String
        public var nextUpdate: String
    }

    /// The file as dcap-qvl writes and reads it; `cvm attest fetch tdx` writes one from PCS's answers.
    public struct Layout: Codable, Sendable, Equatable {
        public var pck_crl_issuer_chain: String
        public var root_ca_crl: String
        public var pck_crl: String
        public var tcb_info_issuer_chain: String
        public var tcb_info: String
        public var tcb_info_signature: String
        public var qe_identity_issuer_chain: String
        public var qe_identity: String
        public var qe_identity_signature: String

        public init(pck_crl_issuer_chain: String, root_ca_crl: String, pck_crl: String, tcb_info_issuer_chain: String,
                    tcb_info: String, tcb_info_signature: String, qe_identity_issuer_chain: String, qe_identity: String,
                    qe_identity_signature: String) {
            self.pck_crl_issuer_chain = pck_crl_issuer_chain
            self.root_ca_crl = root_ca_crl
            self.pck_crl = pck_crl
            self.tcb_info_issuer_chain = tcb_info_issuer_chain
            self.tcb_info = tcb_info
            self.tcb_info_signature = tcb_info_signature
            self.qe_identity_issuer_chain = qe_identity_issuer_chain
            self.qe_identity = qe_identity
            self.qe_identity_signature = qe_identity_signature
        }
    }

    public init(json: [UInt8]) throws {
        guard json.count <= 1 << 20 else { throw Failure.unreadable("larger than 1 MiB") }
        let layout: Layout
        do { layout = try JSONDecoder().decode(Layout.self, from: Data(json)) } catch {
            throw Failure.unreadable("not dcap-qvl's QuoteCollateralV3 JSON (\(error))")
        }
        func chain(_ text: String, _ name: String) throws -> [Certificate] {
            do { return try Certificate.parseBundle(Array(text.utf8)) } catch { throw Failure.unreadable("\(name): \(error)") }
        }
        func crl(_ hex: String, _ name: String) throws -> RevocationList {
            do { return try RevocationList(bytes: try [UInt8](hex: hex)) } catch { throw Failure.unreadable("\(name): \(error)") }
        }
        func bytes(_ hex: String, _ name: String) throws -> [UInt8] {
            do { return try [UInt8](hex: hex) } catch { throw Failure.unreadable("\(name): \(error)") }
        }
        pckCRLIssuerChain = try chain(layout.pck_crl_issuer_chain, "pck_crl_issuer_chain")
        rootCACRL = try crl(layout.root_ca_crl, "root_ca_crl")
        pckCRL = try crl(layout.pck_crl, "pck_crl")
        tcbInfoIssuerChain = try chain(layout.tcb_info_issuer_chain, "tcb_info_issuer_chain")
        tcbInfoJSON = Array(layout.tcb_info.utf8)
        tcbInfoSignature = try bytes(layout.tcb_info_signature, "tcb_info_signature")
        qeIdentityIssuerChain = try chain(layout.qe_identity_issuer_chain, "qe_identity_issuer_chain")
        qeIdentityJSON = Array(layout.qe_identity.utf8)
        qeIdentitySignature = try bytes(layout.qe_identity_signature, "qe_identity_signature")
        do {
            tcbInfo = try JSONDecoder().decode(TCBInfo.self, from: Data(tcbInfoJSON))
            qeIdentity = try JSONDecoder().decode(QEIdentity.self, from: Data(qeIdentityJSON))
        } catch { throw Failure.unreadable("tcb_info or qe_identity is not the expected JSON (\(error))") }
        var problem: String?
        func decoded<T: Decodable>(_ type: T.Type, _ json: [UInt8]) -> T? {
            do { return try JSONDecoder().decode(T.self, from: Data(json)) } catch {
                problem = problem ?? "\(error)"
                return nil
            }
        }
        levels = decoded(TCBInfoLevels.self, tcbInfoJSON)
        qePolicy = decoded(QEIdentityPolicy.self, qeIdentityJSON)
        levelsProblem = problem
    }
}

/// Whether the collateral is Intel's and current, and whether the quote's PCK chain is revoked:
/// TCB info and QE identity signed by Intel's TCB signing key (chained to the pinned root) and within
/// issueDate..nextUpdate at `time`; the root CA CRL signed by the root, the PCK CRL by the PCK CA;
/// neither the PCK CA nor the PCK certificate revoked; the TCB info for the PCK certificate's FMSPC.
/// (The TCB level and the QE identity's match against the quote come next; see docs/TDX.md.)
public enum CollateralVerifier {
    public static func checks(pckChain: [Certificate], collateral: QuoteCollateral, at time: Date,
                              root: Certificate? = IntelRoot.certificate) -> [Check] {
        var checks: [Check] = []
        guard let root else { return [.fail("collateral-root", "the embedded Intel SGX Root CA is damaged")] }
        checks.append(signedJSONCheck("tcb-info", chain: collateral.tcbInfoIssuerChain, json: collateral.tcbInfoJSON,
                                      signature: collateral.tcbInfoSignature, root: root, at: time))
        checks.append(windowCheck("tcb-info-validity", "TCBInfo", issue: collateral.tcbInfo.issueDate, next: collateral.tcbInfo.nextUpdate, at: time))
        checks.append(signedJSONCheck("qe-identity", chain: collateral.qeIdentityIssuerChain, json: collateral.qeIdentityJSON,
                                      signature: collateral.qeIdentitySignature, root: root, at: time))
        checks.append(windowCheck("qe-identity-validity", "QEIdentity", issue: collateral.qeIdentity.issueDate, next: collateral.qeIdentity.nextUpdate, at: time))
        // CRLs: the root's signed by the root, the PCK CA's by the PCK CA of the quote's chain.
        let rootCRLSigned = collateral.rootCACRL.isSigned(by: root)
        checks.append(rootCRLSigned ? .pass("root-crl", "the root CA CRL is signed by \(IntelRoot.name(of: root))")
                                    : .fail("root-crl", "the root CA CRL is not signed by \(IntelRoot.name(of: root))"))
        if pckChain.count == 3 {
            let (leaf, ca) = (pckChain[0], pckChain[1])
            let pckCRLSigned = collateral.pckCRL.isSigned(by: ca)
            checks.append(pckCRLSigned ? .pass("pck-crl", "the PCK CRL is signed by \(ca.subjectCommonName ?? "the PCK CA")")
                                       : .fail("pck-crl", "the PCK CRL is not signed by the quote's \(ca.subjectCommonName ?? "PCK CA")"))
            let revoked = [(ca, collateral.rootCACRL), (leaf, collateral.pckCRL)].filter { $0.1.isRevoked($0.0) }.map { $0.0.subjectCommonName ?? "a certificate" }
            checks.append(revoked.isEmpty ? .pass("revocation", "neither the PCK CA nor the PCK certificate is revoked")
                                          : .fail("revocation", "\(revoked.joined(separator: " and ")) revoked"))
            do {
                let pck = try PCKExtensions(leaf)
                let fmspc = pck.fmspc.map { String(format: "%02X", $0) }.joined()
                checks.append(fmspc == collateral.tcbInfo.fmspc.uppercased()
                    ? .pass("tcb-info-fmspc", "TCB info for FMSPC \(fmspc)")
                    : .fail("tcb-info-fmspc", "the TCB info is for FMSPC \(collateral.tcbInfo.fmspc), the PCK certificate's is \(fmspc)"))
            } catch {
                checks.append(.fail("tcb-info-fmspc", "\(error)"))
            }
        }
        return checks
    }

    static func signedJSONCheck(_ name: String, chain: [Certificate], json: [UInt8], signature: [UInt8], root: Certificate, at time: Date) -> Check {
        guard let signer = chain.first else { return .fail(name, "no issuer chain") }
        let chained = chain.count >= 2 && chain.last?.der == root.der && signer.isSigned(by: root)
        guard chained else { return .fail(name, "\(signer.subjectCommonName ?? "the signer") does not chain to \(IntelRoot.name(of: root))") }
        guard signer.isValid(at: time) else { return .fail(name, "\(signer.subjectCommonName ?? "the signer") is not valid at \(formatRFC3339(time))") }
        guard case .p256(let key) = signer.publicKey, let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature),
              key.isValidSignature(parsed, for: SHA256.hash(data: json)) else {
            return .fail(name, "the signature does not verify with \(signer.subjectCommonName ?? "the signer")")
        }
        return .pass(name, "signed by \(signer.subjectCommonName ?? "Intel"), chained to \(IntelRoot.name(of: root))")
    }

    static func windowCheck(_ name: String, _ what: String, issue: String, next: String, at time: Date) -> Check {
        guard let issued = parseRFC3339(issue), let expires = parseRFC3339(next) else {
            return .fail(name, "\(what) dates unreadable: \(issue) / \(next)")
        }
        if time < issued { return .fail(name, "\(what) issue date is in the future (\(issue), checked at \(formatRFC3339(time)))") }
        if time > expires { return .fail(name, "\(what) expired (\(next), checked at \(formatRFC3339(time)))") }
        return .pass(name, "\(what) issued \(issue), next update \(next)")
    }
}
