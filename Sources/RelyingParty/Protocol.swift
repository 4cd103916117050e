import Foundation

/// The wire format, after Trustee KBS's flow (request → challenge → attestation → resource), all JSON:
///
///     POST /kbs/v0/auth      {"version":"0.1.0","tee":"snp"}
///                          → 200 {"nonce":BASE64,"extra-params":""}  + Set-Cookie: kbs-session-id=ID
///     POST /kbs/v0/attest    {"tee-pubkey":{"kty":"OKP","crv":"X25519","x":BASE64URL},
///                             "tee-evidence":{"report":BASE64,"certs":BASE64}}   (or {"error":"why none"})
///                          → 200 {"token":ID,"resources":[NAME…]}   or 401 {"type":…,"detail":…}
///     GET  /kbs/v0/resource/default/secret/NAME
///                          → 200 {"protected":BASE64URL(header),"iv":…,"ciphertext":…,"tag":…}  (SecretSealing)
///     GET  /kbs/v0/public-key → {"kty":"OKP","crv":"X25519","x":BASE64URL}   (the key the guest pins)
public enum KBSProtocol {
    public static let version = "0.1.0"
    public static let cookieName = "kbs-session-id"
    public static let authPath = "/kbs/v0/auth"
    public static let attestPath = "/kbs/v0/attest"
    public static let resourcePrefix = "/kbs/v0/resource/default/secret/"
    public static let publicKeyPath = "/kbs/v0/public-key"
    /// The largest request body accepted: a report (1184 bytes) with a certificate table of a few KiB, in base64.
    public static let maxBodyBytes = 64 * 1024

    public struct AuthRequest: Codable, Sendable {
        public var version: String
        public var tee: String
        public var extraParams: String?
        public init(version: String = KBSProtocol.version, tee: String = "snp") {
            self.version = version
            self.tee = tee
        }
        enum CodingKeys: String, CodingKey { case version, tee, extraParams = "extra-params" }
    }

    public struct Challenge: Codable, Sendable {
        public var nonce: String
        public var extraParams: String
        enum CodingKeys: String, CodingKey { case nonce, extraParams = "extra-params" }
    }

    public struct PublicKey: Codable, Sendable, Equatable {
        public var kty: String
        public var crv: String
        public var x: String
        public init(x25519 raw: [UInt8]) {
            kty = "OKP"
            crv = "X25519"
            x = Base64URL.encode(raw)
        }
    }

    public struct Evidence: Codable, Sendable {
        public var report: String?
        public var certs: String?
        public var error: String?
        public init(report: String? = nil, certs: String? = nil, error: String? = nil) {
            self.report = report
            self.certs = certs
            self.error = error
        }
    }

    public struct AttestRequest: Codable, Sendable {
        public var teePubkey: PublicKey
        public var teeEvidence: Evidence
        public init(teePubkey: PublicKey, teeEvidence: Evidence) {
            self.teePubkey = teePubkey
            self.teeEvidence = teeEvidence
        }
        enum CodingKeys: String, CodingKey { case teePubkey = "tee-pubkey", teeEvidence = "tee-evidence" }
    }

    public struct AttestResponse: Codable, Sendable {
        public var token: String
        public var resources: [String]
    }

    public struct SealedResource: Codable, Sendable {
        public var protected: String
        public var iv: String
        public var ciphertext: String
        public var tag: String
    }

    public struct ProtectedHeader: Codable, Sendable {
        public var alg: String
        public var enc: String
        public var name: String
    }

    public struct ErrorBody: Codable, Sendable {
        public var type: String
        public var detail: String
    }
}

/// Base64 without padding, URL alphabet (RFC 4648 §5), as JOSE writes keys.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Accepts either alphabet, with or without padding; nil for anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        var bytes = Array(text.utf8)
        for index in bytes.indices {
            if bytes[index] == UInt8(ascii: "-") { bytes[index] = UInt8(ascii: "+") }
            else if bytes[index] == UInt8(ascii: "_") { bytes[index] = UInt8(ascii: "/") }
        }
        while bytes.count % 4 != 0 { bytes.append(UInt8(ascii: "=")) }
        return Data(base64Encoded: Data(bytes)).map(Array.init)
    }
}
