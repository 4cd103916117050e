import Foundation
import SEVABI
import Yams

public enum PolicyFileError: Error, Equatable, CustomStringConvertible, Sendable {
    case badTCB(String)
    case badHex(field: String, reason: String)
    case unreadable(String)
    case unknownKey(String, known: [String])

    public var description: String {
        switch self {
        case let .unknownKey(key, known):
            return "policy file: unknown key '\(key)' (known keys: \(known.joined(separator: ", ")))"
        case .badTCB(let text): return "not a TCB requirement: '\(text)' (use bl=N,tee=N,snp=N,ucode=N[,fmc=N])"
        case let .badHex(field, reason): return "\(field): \(reason)"
        case .unreadable(let why): return "policy file: \(why)"
        }
    }
}

/// What a verified report must look like, in the spirit of go-sev-guest's validate options. Every field
/// is optional; absent means "not checked", except the defaults: DEBUG and MIGRATE_MA refused, SMT allowed.
/// Reads from YAML or JSON with the same keys (camelCase), and command-line flags override the file.
public struct ValidationPolicy: Sendable, Codable, Equatable {
    // Expected values (hex).
    public var measurement: String?
    public var reportData: String?
    public var hostData: String?
    public var idKeyDigest: String?
    public var authorKeyDigest: String?
    public var familyID: String?
    public var imageID: String?
    public var chipID: String?
    public var reportID: String?
    public var reportIDMA: String?
    // Minimums.
    public var minimumTCB: TCBRequirement?
    public var minimumLaunchTCB: TCBRequirement?
    public var minimumGuestSVN: UInt32?
    public var minimumBuild: UInt8?
    /// Minimum firmware version as "major.minor".
    public var minimumVersion: String?
    public var minimumReportVersion: UInt32?
    // Exact values.
    public var vmpl: UInt32?
    public var guestPolicy: String?
    // Guest policy bits.
    public var allowDebug: Bool = false
    public var allowMigrateMA: Bool = false
    public var allowSMT: Bool = true
    public var requireSingleSocket: Bool = false
    public var requireMemAES256XTS: Bool = false
    public var requireRAPLDisabled: Bool = false
    public var requireCiphertextHiding: Bool = false
    public var requirePageSwapDisabled: Bool = false
    public var forbidCXL: Bool = false
    // Platform and signer.
    public var requireAuthorKey: Bool = false
    public var requireIDBlock: Bool = false
    public var forbidPlatformSMT: Bool = false
    public var requirePlatformTSME: Bool = false
    public var allowVLEK: Bool = true
    public var requireVLEK: Bool = false
    /// Accept VLEKs only from these CSPs (cspID extension).
    public var trustedCSPs: [String]?

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case measurement, reportData, hostData, idKeyDigest, authorKeyDigest, familyID, imageID, chipID
        case reportID, reportIDMA, minimumTCB, minimumLaunchTCB, minimumGuestSVN, minimumBuild
        case minimumVersion, minimumReportVersion, vmpl, guestPolicy, allowDebug, allowMigrateMA, allowSMT
        case requireSingleSocket, requireMemAES256XTS, requireRAPLDisabled, requireCiphertextHiding
        case requirePageSwapDisabled, forbidCXL, requireAuthorKey, requireIDBlock, forbidPlatformSMT
        case requirePlatformTSME, allowVLEK, requireVLEK, trustedCSPs
    }

    /// The keys a policy file may use.
    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    /// Any key as written, so keys this type does not know can be named.
    private struct WrittenKey: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        // An unknown key is refused, never ignored: a misspelt `mesurement:` would otherwise turn an
        // expected-value check off and let a report pass that the intended policy fails.
        let known = Set(Self.keys)
        for key in try decoder.container(keyedBy: WrittenKey.self).allKeys where !known.contains(key.stringValue) {
            throw PolicyFileError.unknownKey(key.stringValue, known: Self.keys)
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        measurement = try c.decodeIfPresent(String.self, forKey: .measurement)
        reportData = try c.decodeIfPresent(String.self, forKey: .reportData)
        hostData = try c.decodeIfPresent(String.self, forKey: .hostData)
        idKeyDigest = try c.decodeIfPresent(String.self, forKey: .idKeyDigest)
        authorKeyDigest = try c.decodeIfPresent(String.self, forKey: .authorKeyDigest)
        familyID = try c.decodeIfPresent(String.self, forKey: .familyID)
        imageID = try c.decodeIfPresent(String.self, forKey: .imageID)
        chipID = try c.decodeIfPresent(String.self, forKey: .chipID)
        reportID = try c.decodeIfPresent(String.self, forKey: .reportID)
        reportIDMA = try c.decodeIfPresent(String.self, forKey: .reportIDMA)
        minimumTCB = try c.decodeIfPresent(String.self, forKey: .minimumTCB).map { try TCBRequirement(parsing: $0) }
        minimumLaunchTCB = try c.decodeIfPresent(String.self, forKey: .minimumLaunchTCB).map { try TCBRequirement(parsing: $0) }
        minimumGuestSVN = try c.decodeIfPresent(UInt32.self, forKey: .minimumGuestSVN)
        minimumBuild = try c.decodeIfPresent(UInt8.self, forKey: .minimumBuild)
        minimumVersion = try c.decodeIfPresent(String.self, forKey: .minimumVersion)
        minimumReportVersion = try c.decodeIfPresent(UInt32.self, forKey: .minimumReportVersion)
        vmpl = try c.decodeIfPresent(UInt32.self, forKey: .vmpl)
        guestPolicy = try c.decodeIfPresent(String.self, forKey: .guestPolicy)
        allowDebug = try c.decodeIfPresent(Bool.self, forKey: .allowDebug) ?? false
        allowMigrateMA = try c.decodeIfPresent(Bool.self, forKey: .allowMigrateMA) ?? false
        allowSMT = try c.decodeIfPresent(Bool.self, forKey: .allowSMT) ?? true
        requireSingleSocket = try c.decodeIfPresent(Bool.self, forKey: .requireSingleSocket) ?? false
        requireMemAES256XTS = try c.decodeIfPresent(Bool.self, forKey: .requireMemAES256XTS) ?? false
        requireRAPLDisabled = try c.decodeIfPresent(Bool.self, forKey: .requireRAPLDisabled) ?? false
        requireCiphertextHiding = try c.decodeIfPresent(Bool.self, forKey: .requireCiphertextHiding) ?? false
        requirePageSwapDisabled = try c.decodeIfPresent(Bool.self, forKey: .requirePageSwapDisabled) ?? false
        forbidCXL = try c.decodeIfPresent(Bool.self, forKey: .forbidCXL) ?? false
        requireAuthorKey = try c.decodeIfPresent(Bool.self, forKey: .requireAuthorKey) ?? false
        requireIDBlock = try c.decodeIfPresent(Bool.self, forKey: .requireIDBlock) ?? false
        forbidPlatformSMT = try c.decodeIfPresent(Bool.self, forKey: .forbidPlatformSMT) ?? false
        requirePlatformTSME = try c.decodeIfPresent(Bool.self, forKey: .requirePlatformTSME) ?? false
        allowVLEK = try c.decodeIfPresent(Bool.self, forKey: .allowVLEK) ?? true
        requireVLEK = try c.decodeIfPresent(Bool.self, forKey: .requireVLEK) ?? false
        trustedCSPs = try c.decodeIfPresent([String].self, forKey: .trustedCSPs)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(measurement, forKey: .measurement)
        try c.encodeIfPresent(reportData, forKey: .reportData)
        try c.encodeIfPresent(hostData, forKey: .hostData)
        try c.encodeIfPresent(idKeyDigest, forKey: .idKeyDigest)
        try c.encodeIfPresent(authorKeyDigest, forKey: .authorKeyDigest)
        try c.encodeIfPresent(familyID, forKey: .familyID)
        try c.encodeIfPresent(imageID, forKey: .imageID)
        try c.encodeIfPresent(chipID, forKey: .chipID)
        try c.encodeIfPresent(reportID, forKey: .reportID)
        try c.encodeIfPresent(reportIDMA, forKey: .reportIDMA)
        try c.encodeIfPresent(minimumTCB?.description, forKey: .minimumTCB)
        try c.encodeIfPresent(minimumLaunchTCB?.description, forKey: .minimumLaunchTCB)
        try c.encodeIfPresent(minimumGuestSVN, forKey: .minimumGuestSVN)
        try c.encodeIfPresent(minimumBuild, forKey: .minimumBuild)
        try c.encodeIfPresent(minimumVersion, forKey: .minimumVersion)
        try c.encodeIfPresent(minimumReportVersion, forKey: .minimumReportVersion)
        try c.encodeIfPresent(vmpl, forKey: .vmpl)
        try c.encodeIfPresent(guestPolicy, forKey: .guestPolicy)
        try c.encode(allowDebug, forKey: .allowDebug)
        try c.encode(allowMigrateMA, forKey: .allowMigrateMA)
        try c.encode(allowSMT, forKey: .allowSMT)
        try c.encode(requireSingleSocket, forKey: .requireSingleSocket)
        try c.encode(requireMemAES256XTS, forKey: .requireMemAES256XTS)
        try c.encode(requireRAPLDisabled, forKey: .requireRAPLDisabled)
        try c.encode(requireCiphertextHiding, forKey: .requireCiphertextHiding)
        try c.encode(requirePageSwapDisabled, forKey: .requirePageSwapDisabled)
        try c.encode(forbidCXL, forKey: .forbidCXL)
        try c.encode(requireAuthorKey, forKey: .requireAuthorKey)
        try c.encode(requireIDBlock, forKey: .requireIDBlock)
        try c.encode(forbidPlatformSMT, forKey: .forbidPlatformSMT)
        try c.encode(requirePlatformTSME, forKey: .requirePlatformTSME)
        try c.encode(allowVLEK, forKey: .allowVLEK)
        try c.encode(requireVLEK, forKey: .requireVLEK)
        try c.encodeIfPresent(trustedCSPs, forKey: .trustedCSPs)
    }

    /// Reads a policy file; JSON when it starts with `{`, YAML otherwise (YAML is a superset of JSON).
    public static func load(contentsOf text: String) throws -> ValidationPolicy {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            try NestingDepth.check(trimmed)
            let policy: ValidationPolicy
            if trimmed.hasPrefix("{") {
                policy = try JSONDecoder().decode(ValidationPolicy.self, from: Data(trimmed.utf8))
            } else {
                policy = try YAMLDecoder().decode(ValidationPolicy.self, from: trimmed.isEmpty ? "{}" : trimmed)
            }
            try policy.validate()
            return policy
        } catch let error as PolicyFileError {
            throw error
        } catch let error as NestingDepth.TooDeep {
            throw PolicyFileError.unreadable("\(error)")
        } catch let DecodingError.keyNotFound(key, _) {
            throw PolicyFileError.unreadable("missing key \(key.stringValue)")
        } catch DecodingError.dataCorrupted(let context) where context.underlyingError is PolicyFileError {
            // Yams wraps what init(from:) throws as "not valid YAML"; the policy's own error says more.
            throw context.underlyingError ?? PolicyFileError.unreadable(context.debugDescription)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw PolicyFileError.unreadable("\(path.isEmpty ? "document" : path): \(context.debugDescription)")
        } catch {
            throw PolicyFileError.unreadable("\(error)")
        }
    }

    /// Hex fields must decode to their field's size (report data may be shorter: it is zero-padded).
    public func validate() throws {
        let sizes: [(String, String?, Int, Bool)] = [
            ("measurement", measurement, 48, false), ("reportData", reportData, 64, true),
            ("hostData", hostData, 32, false), ("idKeyDigest", idKeyDigest, 48, false),
            ("authorKeyDigest", authorKeyDigest, 48, false), ("familyID", familyID, 16, false),
            ("imageID", imageID, 16, false), ("chipID", chipID, 64, true), ("reportID", reportID, 32, false),
            ("reportIDMA", reportIDMA, 32, false),
        ]
        for (name, value, size, mayBeShorter) in sizes {
            guard let value else { continue }
            _ = try Self.expectedBytes(name, value, size: size, mayBeShorter: mayBeShorter)
        }
        if let guestPolicy, parseUnsignedInteger(guestPolicy, as: UInt64.self) == nil {
            throw PolicyFileError.badHex(field: "guestPolicy", reason: "not a number: '\(guestPolicy)'")
        }
        if let minimumVersion, Self.parseVersion(minimumVersion) == nil {
            throw PolicyFileError.badHex(field: "minimumVersion", reason: "expected MAJOR.MINOR, found '\(minimumVersion)'")
        }
    }

    static func expectedBytes(_ field: String, _ text: String, size: Int, mayBeShorter: Bool) throws -> [UInt8] {
        let bytes: [UInt8]
        do { bytes = try [UInt8](hex: text) } catch {
            throw PolicyFileError.badHex(field: field, reason: "\(error)")
        }
        if bytes.count == size { return bytes }
        guard mayBeShorter, bytes.count < size else {
            throw PolicyFileError.badHex(field: field, reason: "expected \(size) bytes, found \(bytes.count)")
        }
        return bytes + [UInt8](repeating: 0, count: size - bytes.count)
    }

    static func parseVersion(_ text: String) -> (UInt8, UInt8)? {
        let parts = text.split(separator: ".")
        guard parts.count == 2, let major = UInt8(parts[0]), let minor = UInt8(parts[1]) else { return nil }
        return (major, minor)
    }
}
