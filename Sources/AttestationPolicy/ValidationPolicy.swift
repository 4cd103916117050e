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

/// What a verified report must look like, in the spirit of go-sev-guest's validate.Options. Every field
/// is optional; absent means "not checked", except the defaults: DEBUG and MIGRATE_MA refused, SMT allowed.
/// Reads from YAML or JSON with the same keys (camelCase), and command-line flags override the file.
/// Values are typed and checked when the policy is built (hex of the field's length, a 64-bit policy,
/// MAJOR.MINOR), so a check never meets a malformed expectation.
public struct ValidationPolicy: Sendable, Codable, Equatable {
    // Expected values.
    public var measurement: Expected<MeasurementField>?
    public var reportData: Expected<ReportDataField>?
    public var hostData: Expected<HostDataField>?
    public var idKeyDigest: Expected<IDKeyDigestField>?
    public var authorKeyDigest: Expected<AuthorKeyDigestField>?
    public var familyID: Expected<FamilyIDField>?
    public var imageID: Expected<ImageIDField>?
    public var chipID: Expected<ChipIDField>?
    public var reportID: Expected<ReportIDField>?
    public var reportIDMA: Expected<ReportIDMAField>?
    // Minimums.
    public var minimumTCB: TCBRequirement?
    public var minimumLaunchTCB: TCBRequirement?
    public var minimumGuestSVN: UInt32?
    public var minimumBuild: UInt8?
    /// Minimum firmware version (major.minor; the build is not compared).
    public var minimumVersion: FirmwareVersion?
    public var minimumReportVersion: UInt32?
    // Exact values.
    public var vmpl: UInt32?
    /// The exact 64-bit guest POLICY the report must carry.
    public var guestPolicy: UInt64?
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


    public init(from decoder: any Decoder) throws {
        // An unknown key is refused, never ignored: a misspelt `mesurement:` would otherwise turn an
        // expected-value check off and let a report pass that the intended policy fails.
        let known = Set(Self.keys)
        for key in try decoder.container(keyedBy: WrittenKey.self).allKeys where !known.contains(key.stringValue) {
            throw PolicyFileError.unknownKey(key.stringValue, known: Self.keys)
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        measurement = try c.decodeIfPresent(String.self, forKey: .measurement).map { try Expected(hex: $0) }
        reportData = try c.decodeIfPresent(String.self, forKey: .reportData).map { try Expected(hex: $0) }
        hostData = try c.decodeIfPresent(String.self, forKey: .hostData).map { try Expected(hex: $0) }
        idKeyDigest = try c.decodeIfPresent(String.self, forKey: .idKeyDigest).map { try Expected(hex: $0) }
        authorKeyDigest = try c.decodeIfPresent(String.self, forKey: .authorKeyDigest).map { try Expected(hex: $0) }
        familyID = try c.decodeIfPresent(String.self, forKey: .familyID).map { try Expected(hex: $0) }
        imageID = try c.decodeIfPresent(String.self, forKey: .imageID).map { try Expected(hex: $0) }
        chipID = try c.decodeIfPresent(String.self, forKey: .chipID).map { try Expected(hex: $0) }
        reportID = try c.decodeIfPresent(String.self, forKey: .reportID).map { try Expected(hex: $0) }
        reportIDMA = try c.decodeIfPresent(String.self, forKey: .reportIDMA).map { try Expected(hex: $0) }
        minimumTCB = try c.decodeIfPresent(String.self, forKey: .minimumTCB).map { try TCBRequirement(parsing: $0) }
        minimumLaunchTCB = try c.decodeIfPresent(String.self, forKey: .minimumLaunchTCB).map { try TCBRequirement(parsing: $0) }
        minimumGuestSVN = try c.decodeIfPresent(UInt32.self, forKey: .minimumGuestSVN)
        minimumBuild = try c.decodeIfPresent(UInt8.self, forKey: .minimumBuild)
        minimumVersion = try c.decodeIfPresent(String.self, forKey: .minimumVersion).map(Self.parseVersion)
        minimumReportVersion = try c.decodeIfPresent(UInt32.self, forKey: .minimumReportVersion)
        vmpl = try c.decodeIfPresent(UInt32.self, forKey: .vmpl)
        guestPolicy = try c.decodeIfPresent(String.self, forKey: .guestPolicy).map(Self.parseGuestPolicy)
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
        try c.encodeIfPresent(measurement?.description, forKey: .measurement)
        try c.encodeIfPresent(reportData?.description, forKey: .reportData)
        try c.encodeIfPresent(hostData?.description, forKey: .hostData)
        try c.encodeIfPresent(idKeyDigest?.description, forKey: .idKeyDigest)
        try c.encodeIfPresent(authorKeyDigest?.description, forKey: .authorKeyDigest)
        try c.encodeIfPresent(familyID?.description, forKey: .familyID)
        try c.encodeIfPresent(imageID?.description, forKey: .imageID)
        try c.encodeIfPresent(chipID?.description, forKey: .chipID)
        try c.encodeIfPresent(reportID?.description, forKey: .reportID)
        try c.encodeIfPresent(reportIDMA?.description, forKey: .reportIDMA)
        try c.encodeIfPresent(minimumTCB?.description, forKey: .minimumTCB)
        try c.encodeIfPresent(minimumLaunchTCB?.description, forKey: .minimumLaunchTCB)
        try c.encodeIfPresent(minimumGuestSVN, forKey: .minimumGuestSVN)
        try c.encodeIfPresent(minimumBuild, forKey: .minimumBuild)
        try c.encodeIfPresent(minimumVersion.map { "\($0.major).\($0.minor)" }, forKey: .minimumVersion)
        try c.encodeIfPresent(minimumReportVersion, forKey: .minimumReportVersion)
        try c.encodeIfPresent(vmpl, forKey: .vmpl)
        try c.encodeIfPresent(guestPolicy.map { "0x" + String($0, radix: 16) }, forKey: .guestPolicy)
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
        try PolicyFile.decode(ValidationPolicy.self, from: text)
    }
}

/// A policy file of any kind (SNP report policy, TDX quote policy): JSON when it starts with `{`, YAML
/// otherwise, nesting bounded, every decoding error one line naming where.
public enum PolicyFile {
    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            try NestingDepth.check(trimmed)
            if trimmed.hasPrefix("{") {
                return try JSONDecoder().decode(T.self, from: Data(trimmed.utf8))
            }
            return try YAMLDecoder().decode(T.self, from: trimmed.isEmpty ? "{}" : trimmed)
        } catch let error as PolicyFileError {
            throw error
        } catch let error as NestingDepth.TooDeep {
            throw PolicyFileError.unreadable("\(error)")
        } catch let DecodingError.keyNotFound(key, _) {
            throw PolicyFileError.unreadable("missing key \(key.stringValue)")
        } catch DecodingError.dataCorrupted(let context) where context.underlyingError is PolicyFileError {
            // Yams wraps what init(from:) throws as "not valid YAML"; the policy's own error says more.
            throw context.underlyingError ?? PolicyFileError.unreadable(context.debugDescription)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context),
                let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw PolicyFileError.unreadable("\(path.isEmpty ? "document" : path): \(context.debugDescription)")
        } catch {
            throw PolicyFileError.unreadable("\(error)")
        }
    }
}

extension ValidationPolicy {
    /// A guest POLICY as the help says: decimal or 0x-prefixed hex, 64 bits.
    public static func parseGuestPolicy(_ text: String) throws -> UInt64 {
        guard let value = parseUnsignedInteger(text, as: UInt64.self) else {
            throw PolicyFileError.badHex(field: "guestPolicy", reason: "not a number: '\(text)'")
        }
        return value
    }

    /// A minimum firmware version written MAJOR.MINOR.
    public static func parseVersion(_ text: String) throws -> FirmwareVersion {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = UInt8(parts[0]), let minor = UInt8(parts[1]) else {
            throw PolicyFileError.badHex(field: "minimumVersion", reason: "expected MAJOR.MINOR, found '\(text)'")
        }
        return FirmwareVersion(major: major, minor: minor)
    }
}

/// Any key as written, so that a policy reader can name the keys its type does not know.
public struct WrittenKey: CodingKey {
    public let stringValue: String
    public init(stringValue: String) { self.stringValue = stringValue }
    public var intValue: Int? { nil }
    public init?(intValue: Int) { nil }
}
