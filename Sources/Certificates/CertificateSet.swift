/// The certificates a verification starts from: the endorsement key (VCEK or VLEK) and optionally
/// intermediates or an ARK supplied by the host or KDS. Supplied ARKs must be byte-identical to a
/// pinned AMD root; supplied intermediates must chain to it.
public struct CertificateSet: Sendable {
    public var endorsementKey: Certificate
    public var ark: Certificate?
    public var ask: Certificate?
    public var asvk: Certificate?

    public init(endorsementKey: Certificate, ark: Certificate? = nil, ask: Certificate? = nil, asvk: Certificate? = nil) {
        self.endorsementKey = endorsementKey
        self.ark = ark
        self.ask = ask
        self.asvk = asvk
    }
}
