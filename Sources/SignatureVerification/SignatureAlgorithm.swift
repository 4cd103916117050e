/// The signature algorithms AMD certificates and CRLs use (read from DER by the Certificates module).
public enum SignatureAlgorithm: Sendable, Hashable, CustomStringConvertible {
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt (the only PSS variant accepted).
    case rsaPSSSHA384
    case ecdsaSHA384
    /// Intel's DCAP certificates, CRLs and collateral.
    case ecdsaSHA256

    public var description: String {
        switch self {
        case .rsaPSSSHA384: return "RSASSA-PSS SHA-384 salt 48"
        case .ecdsaSHA384: return "ECDSA SHA-384"
        case .ecdsaSHA256: return "ECDSA SHA-256"
        }
    }
}

