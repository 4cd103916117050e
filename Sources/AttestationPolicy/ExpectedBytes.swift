import SEVABI

/// A fixed-size field of the ATTESTATION_REPORT that a policy can expect a value for: its name in the
/// policy file, its size, and whether a shorter value is zero-padded (REPORT_DATA, CHIP_ID).
public protocol ReportField: Sendable {
    static var key: String { get }
    static var size: Int { get }
    static var zeroPadded: Bool { get }
}

/// An expected value of one report field, checked for length when it is built, so a policy can never
/// hold a malformed value (go-sev-guest validate.Options keeps typed byte fields the same way). The field
/// is part of the type: a HOST_DATA value cannot be put where a MEASUREMENT is expected.
public struct Expected<Field: ReportField>: Sendable, Hashable, CustomStringConvertible {
    /// Exactly `Field.size` bytes (zero-padded when the field allows a shorter value).
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) throws {
        if bytes.count == Field.size {
            self.bytes = bytes
        } else if Field.zeroPadded, bytes.count < Field.size {
            self.bytes = bytes + [UInt8](repeating: 0, count: Field.size - bytes.count)
        } else {
            throw PolicyFileError.badHex(field: Field.key, reason: "expected \(Field.size) bytes, found \(bytes.count)")
        }
    }

    public init(hex: String) throws {
        let bytes: [UInt8]
        do { bytes = try [UInt8](hex: hex) } catch {
            throw PolicyFileError.badHex(field: Field.key, reason: "\(error)")
        }
        try self.init(bytes)
    }

    public var description: String { bytes.hexString }
}

public enum MeasurementField: ReportField {
    public static let key = "measurement", size = 48, zeroPadded = false
}
public enum ReportDataField: ReportField {
    public static let key = "reportData", size = 64, zeroPadded = true
}
public enum HostDataField: ReportField {
    public static let key = "hostData", size = 32, zeroPadded = false
}
public enum IDKeyDigestField: ReportField {
    public static let key = "idKeyDigest", size = 48, zeroPadded = false
}
public enum AuthorKeyDigestField: ReportField {
    public static let key = "authorKeyDigest", size = 48, zeroPadded = false
}
public enum FamilyIDField: ReportField {
    public static let key = "familyID", size = 16, zeroPadded = false
}
public enum ImageIDField: ReportField {
    public static let key = "imageID", size = 16, zeroPadded = false
}
public enum ChipIDField: ReportField {
    public static let key = "chipID", size = 64, zeroPadded = true
}
public enum ReportIDField: ReportField {
    public static let key = "reportID", size = 32, zeroPadded = false
}
public enum ReportIDMAField: ReportField {
    public static let key = "reportIDMA", size = 32, zeroPadded = false
}
