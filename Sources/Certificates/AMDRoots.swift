import SNPReport

/// The AMD signing hierarchy of one product: ARK (self-signed root), ASK (signs VCEKs), ASVK (signs VLEKs).
public struct AMDRootSet: Sendable {
    public let product: SNPProduct
    public let ark: Certificate
    public let ask: Certificate
    public let asvk: Certificate

    public init(product: SNPProduct, ark: Certificate, ask: Certificate, asvk: Certificate) {
        self.product = product
        self.ark = ark
        self.ask = ask
        self.asvk = asvk
    }

    /// The intermediate that signs the given kind of endorsement key.
    public func intermediate(for key: SigningKey) -> Certificate { key == .vlek ? asvk : ask }
}

public enum AMDRootsError: Error, Equatable, CustomStringConvertible, Sendable {
    case fingerprintMismatch(name: String, found: String)

    public var description: String {
        switch self {
        case let .fingerprintMismatch(name, found):
            return "\(name) does not match its pinned SHA-256 fingerprint (found \(found))"
        }
    }
}

/// The embedded AMD roots, checked against pinned fingerprints (from AMD KDS, as listed in the
/// project's vectors README) the first time they are used.
public enum AMDRoots {
    /// SHA-256 of the DER, upper-case hex, per product: ARK, ASK, ASVK.
    public static let pinnedFingerprints: [SNPProduct: (ark: String, ask: String, asvk: String)] = [
        .milan: ("69D063B45344D26A2E94E1F4210DE49EF555308287D4C174445C95639A540BCD",
                 "67D303BD3905FD38DB8B20E0793699870E7FA612EAAD5DEC358293FD8C0BAC1B",
                 "C5E081F59B7EFAB1FE2F8B505E159704E72F29CAB7EF7CF628A05A42439082F5"),
        .genoa: ("4C6598D19C18719C5DFD4A7D335F674E5BFE1D8F800CEA2CF270C10D103DB2F1",
                 "5464738C1546AED5F2CECF1DC98C5C960A92E8913238A61711BC90EC6E828521",
                 "197E610743A917D6B9BB982A5A9226CCC0A15B611BE0619E626ACA9151457372"),
        .turin: ("1F084161A44BB6D93778A904877D4819CAFA5D05EF4193B2DED9DD9C73DD3F6A",
                 "5B77EF5FE7A7A004FD9032668FBA9D0FDA22F88C4442069A479636A6AE3B3185",
                 "104E10A8BD060A3C20A434261A57D0588FD65A88915B4F65B08BDECAF8DF1A3C"),
    ]

    private static let loaded: [SNPProduct: Result<AMDRootSet, Error>] = {
        var out: [SNPProduct: Result<AMDRootSet, Error>] = [:]
        for product in SNPProduct.allCases {
            out[product] = Result { try load(product) }
        }
        return out
    }()

    /// The pinned roots of a product; throws only if the embedded copy were corrupted.
    public static func roots(for product: SNPProduct) throws -> AMDRootSet {
        guard let result = loaded[product] else { throw AMDRootsError.fingerprintMismatch(name: "\(product)", found: "nothing") }
        return try result.get()
    }

    private static func load(_ product: SNPProduct) throws -> AMDRootSet {
        let pems: (String, String, String)
        switch product {
        case .milan: pems = (AMDRootPEM.milanARK, AMDRootPEM.milanASK, AMDRootPEM.milanASVK)
        case .genoa: pems = (AMDRootPEM.genoaARK, AMDRootPEM.genoaASK, AMDRootPEM.genoaASVK)
        case .turin: pems = (AMDRootPEM.turinARK, AMDRootPEM.turinASK, AMDRootPEM.turinASVK)
        }
        let ark = try pinned(pems.0, name: "ARK-\(product)", expected: pinnedFingerprints[product]?.ark)
        let ask = try pinned(pems.1, name: "ASK-\(product)", expected: pinnedFingerprints[product]?.ask)
        let asvk = try pinned(pems.2, name: "ASVK-\(product)", expected: pinnedFingerprints[product]?.asvk)
        return AMDRootSet(product: product, ark: ark, ask: ask, asvk: asvk)
    }

    private static func pinned(_ pem: String, name: String, expected: String?) throws -> Certificate {
        let certificate = try Certificate(bytes: Array(pem.utf8))
        guard certificate.fingerprintSHA256 == expected else {
            throw AMDRootsError.fingerprintMismatch(name: name, found: certificate.fingerprintSHA256)
        }
        return certificate
    }

    /// True when `certificate` is byte-identical to one of the pinned ARKs.
    public static func isPinnedARK(_ certificate: Certificate) -> Bool {
        pinnedFingerprints.values.contains { $0.ark == certificate.fingerprintSHA256 }
    }
}
