/// SEV PLATFORM_STATUS as returned through /dev/sev (SEV API 55766, "PLATFORM_STATUS";
/// Linux `struct sev_user_data_status`, 12 bytes packed).
public struct SEVPlatformStatus: Sendable, Hashable, Codable {
    public var apiMajor: UInt8
    public var apiMinor: UInt8
    /// 0 UNINIT, 1 INIT, 2 WORKING.
    public var state: UInt8
    /// Bit 0 owner (externally owned), bit 8 CONFIG_ES (SEV-ES initialised).
    public var flags: UInt32
    public var build: UInt8
    public var guestCount: UInt32

    public static let byteCount = 12

    public init(apiMajor: UInt8, apiMinor: UInt8, state: UInt8, flags: UInt32, build: UInt8, guestCount: UInt32) {
        self.apiMajor = apiMajor
        self.apiMinor = apiMinor
        self.state = state
        self.flags = flags
        self.build = build
        self.guestCount = guestCount
    }

    /// Offsets: 0 api_major, 1 api_minor, 2 state, 3 flags (u32), 7 build, 8 guest_count (u32).
    public init(bytes: [UInt8]) throws {
        var reader = ByteReader(bytes)
        apiMajor = try reader.readLE()
        apiMinor = try reader.readLE()
        state = try reader.readLE()
        flags = try reader.readLE()
        build = try reader.readLE()
        guestCount = try reader.readLE()
    }

    public var esConfigured: Bool { flags & 0x100 != 0 }
    public var stateName: String { ["UNINIT", "INIT", "WORKING"].indices.contains(Int(state)) ? ["UNINIT", "INIT", "WORKING"][Int(state)] : "state \(state)" }
    public var firmwareVersion: FirmwareVersion { FirmwareVersion(major: apiMajor, minor: apiMinor, build: UInt32(build)) }
}

/// SNP_PLATFORM_STATUS (SEV-SNP ABI 56860, "SNP_PLATFORM_STATUS" buffer, 32 bytes).
public struct SNPPlatformStatus: Sendable, Hashable, Codable {
    public var apiMajor: UInt8
    public var apiMinor: UInt8
    /// 0 UNINIT, 1 INIT.
    public var state: UInt8
    /// Byte 3: bit 0 RMP initialised, bit 7 ALIAS_CHECK_COMPLETE.
    public var rmpFlags: UInt8
    public var buildID: UInt32
    /// Bit 0 MASK_CHIP_ID, 1 MASK_CHIP_KEY, 2 VLEK_EN, 3 FEATURE_INFO, 4 RAPL_DIS, 5 CIPHERTEXT_HIDING_CAP, 6 CIPHERTEXT_HIDING_EN.
    public var configFlags: UInt32
    public var guestCount: UInt32
    public var currentTCB: UInt64
    public var reportedTCB: UInt64

    public static let byteCount = 32

    public init(apiMajor: UInt8, apiMinor: UInt8, state: UInt8, rmpFlags: UInt8, buildID: UInt32,
                configFlags: UInt32, guestCount: UInt32, currentTCB: UInt64, reportedTCB: UInt64) {
        self.apiMajor = apiMajor
        self.apiMinor = apiMinor
        self.state = state
        self.rmpFlags = rmpFlags
        self.buildID = buildID
        self.configFlags = configFlags
        self.guestCount = guestCount
        self.currentTCB = currentTCB
        self.reportedTCB = reportedTCB
    }

    public init(bytes: [UInt8]) throws {
        var reader = ByteReader(bytes)
        apiMajor = try reader.readLE()
        apiMinor = try reader.readLE()
        state = try reader.readLE()
        rmpFlags = try reader.readLE()
        buildID = try reader.readLE()
        configFlags = try reader.readLE()
        guestCount = try reader.readLE()
        currentTCB = try reader.readLE()
        reportedTCB = try reader.readLE()
    }

    public var isInitialized: Bool { state == 1 }
    public var rmpInitialized: Bool { rmpFlags & 0x1 != 0 }
    public var aliasCheckComplete: Bool { rmpFlags & 0x80 != 0 }
    public var firmwareVersion: FirmwareVersion { FirmwareVersion(major: apiMajor, minor: apiMinor, build: buildID) }
}

/// A firmware version compared as (major, minor), never by the minor number alone.
public struct FirmwareVersion: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var major: UInt8
    public var minor: UInt8
    public var build: UInt32

    public init(major: UInt8, minor: UInt8, build: UInt32 = 0) {
        self.major = major
        self.minor = minor
        self.build = build
    }

    public static func < (lhs: FirmwareVersion, rhs: FirmwareVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    public static func == (lhs: FirmwareVersion, rhs: FirmwareVersion) -> Bool {
        (lhs.major, lhs.minor) == (rhs.major, rhs.minor)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(major)
        hasher.combine(minor)
    }

    /// The minimum firmware for SEV-SNP guests with current kernels.
    public static let snpMinimum = FirmwareVersion(major: 1, minor: 51)

    public var description: String { "\(major).\(minor) (build \(build))" }
}
