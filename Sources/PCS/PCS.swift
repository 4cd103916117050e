import Certificates
import DCAPQuote
import SEVABI
import TDXAttestation

/// Intel Provisioning Certification Service, API v4: the paths of the collateral a DCAP quote is judged
/// with. The base URL is configurable so a PCCS, a mirror or a test server can stand in for Intel's
/// service; PCCS serves the same paths (and the root CA CRL, which Intel publishes elsewhere).
public enum PCS {
    public static let defaultBaseURL = "https://api.trustedservices.intel.com"
    /// Intel's root CA CRL (DER), the CRL distribution point of the Intel SGX Root CA certificate.
    public static let intelRootCACRLURL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
    /// A PCCS serves the root CA CRL here, as hex text or DER.
    public static let pccsRootCACRLPath = "/sgx/certification/v4/rootcacrl"

    /// A base URL as users write it, trailing slash or API prefix included (a PCCS is often configured
    /// as https://host:8081/sgx/certification/v4/), reduced to the host part the paths are appended to.
    public static func baseURL(_ text: String) -> String {
        var base = text
        while base.hasSuffix("/") { base.removeLast() }
        for prefix in ["/sgx/certification/v4", "/tdx/certification/v4"] where base.hasSuffix(prefix) {
            base.removeLast(prefix.count)
        }
        return base
    }

    /// The CA that issued a PCK certificate, which selects the PCK CRL.
    public enum CA: String, Sendable, Equatable {
        case platform, processor
    }

    /// Response headers carrying the URL-encoded PEM issuer chain of each answer. TCB info's header lost
    /// its SGX- prefix in API v4; older servers still send the prefixed name.
    public enum IssuerChainHeader {
        public static let pckCRL = "SGX-PCK-CRL-Issuer-Chain"
        public static let tcbInfo = ["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"]
        public static let qeIdentity = "SGX-Enclave-Identity-Issuer-Chain"
    }

    /// /sgx/certification/v4/pckcrl?ca=platform|processor&encoding=der (the PCK CRL is SGX's for TDX too).
    public static func pckCRLPath(ca: CA) -> String {
        "/sgx/certification/v4/pckcrl?ca=\(ca.rawValue)&encoding=der"
    }

    /// /{sgx|tdx}/certification/v4/tcb?fmspc=HEX: {"tcbInfo": {...}, "signature": "hex"}.
    public static func tcbInfoPath(tee: DCAPQuote.TEE, fmspc: [UInt8]) -> String {
        "/\(component(tee))/certification/v4/tcb?fmspc=\(fmspc.hexString.uppercased())"
    }

    /// /{sgx|tdx}/certification/v4/qe/identity: {"enclaveIdentity": {...}, "signature": "hex"} (the QE
    /// for SGX, the TD QE for TDX).
    public static func qeIdentityPath(tee: DCAPQuote.TEE) -> String {
        "/\(component(tee))/certification/v4/qe/identity"
    }

    static func component(_ tee: DCAPQuote.TEE) -> String { tee == .sgx ? "sgx" : "tdx" }

    public enum Failure: Error, Equatable, CustomStringConvertible, Sendable {
        case noPCKChain(String)
        case unknownCA(String)
        case unusable(String)

        public var description: String {
            switch self {
            case .noPCKChain(let why): return "the quote carries no usable PCK certificate chain: \(why)"
            case .unknownCA(let issuer): return "the PCK certificate's issuer '\(issuer)' is neither the PCK Platform CA nor the PCK Processor CA"
            case .unusable(let why): return why
            }
        }
    }
}

/// What PCS needs to know about the platform that made a quote, all from the quote itself: SGX or TDX
/// (which TCB info and QE identity), the FMSPC and the issuing CA from the PCK leaf certificate of the
/// quote's certification data.
public struct PCKPlatform: Sendable, Equatable {
    public var tee: DCAPQuote.TEE
    public var fmspc: [UInt8]
    public var ca: PCS.CA

    public init(tee: DCAPQuote.TEE, fmspc: [UInt8], ca: PCS.CA) {
        self.tee = tee
        self.fmspc = fmspc
        self.ca = ca
    }

    public init(quote: DCAPQuote) throws {
        let chain: [Certificate]
        do { chain = try Certificate.parseBundle(quote.pckChainPEM) } catch { throw PCS.Failure.noPCKChain("\(error)") }
        guard let leaf = chain.first else { throw PCS.Failure.noPCKChain("the chain is empty") }
        do { fmspc = try PCKExtensions(leaf).fmspc } catch { throw PCS.Failure.noPCKChain("\(error)") }
        // Intel names the two PCK CAs "Intel SGX PCK Platform CA" and "Intel SGX PCK Processor CA".
        let issuer = leaf.issuerCommonName ?? ""
        if issuer.contains("Platform") {
            ca = .platform
        } else if issuer.contains("Processor") {
            ca = .processor
        } else {
            throw PCS.Failure.unknownCA(issuer)
        }
        tee = quote.header.tee
    }

    public var fmspcHex: String { fmspc.hexString.uppercased() }
}
