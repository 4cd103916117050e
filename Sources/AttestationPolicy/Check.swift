/// One verification step and its outcome, with the reason in words.
public struct Check: Sendable, Codable, Equatable {
    public let name: String
    public let passed: Bool
    public let detail: String

    public init(_ name: String, _ passed: Bool, _ detail: String) {
        self.name = name
        self.passed = passed
        self.detail = detail
    }

    package static func pass(_ name: String, _ detail: String) -> Check { Check(name, true, detail) }
    package static func fail(_ name: String, _ detail: String) -> Check { Check(name, false, detail) }
}

/// The checks of one verification and the verdict: it passes only when every check passed.
public struct Verdict: Sendable, Codable, Equatable {
    public let product: String?
    public let signingKey: String
    public let checks: [Check]
    public var passed: Bool { checks.allSatisfy(\.passed) }
    public var failures: [Check] { checks.filter { !$0.passed } }

    enum CodingKeys: String, CodingKey { case product, signingKey, checks, verdict }

    public init(product: String?, signingKey: String, checks: [Check]) {
        self.product = product
        self.signingKey = signingKey
        self.checks = checks
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        product = try c.decodeIfPresent(String.self, forKey: .product)
        signingKey = try c.decode(String.self, forKey: .signingKey)
        checks = try c.decode([Check].self, forKey: .checks)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(product, forKey: .product)
        try c.encode(signingKey, forKey: .signingKey)
        try c.encode(checks, forKey: .checks)
        try c.encode(passed ? "pass" : "fail", forKey: .verdict)
    }
}
