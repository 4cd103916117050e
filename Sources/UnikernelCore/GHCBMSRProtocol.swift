/// The GHCB MSR protocol (GHCB specification, AMD pub. 56421, section 2.3.1): before a GHCB page exists,
/// an SEV-ES or SNP guest talks to the hypervisor through MSR C001_0130 alone. Bits 11:0 of the value
/// name the request or response (GHCBInfo), bits 63:12 carry its data (GHCBData); a write of the MSR
/// followed by VMGEXIT sends the request, a read after it returns the response.
public enum GHCBMSRProtocol {
    public static let msr: UInt32 = 0xc001_0130

    /// GHCBInfo codes.
    public enum Info: UInt64, Sendable {
        case sevInfoResponse = 0x001
        case sevInfoRequest = 0x002
        case cpuidRequest = 0x004
        case cpuidResponse = 0x005
        case preferredGHCBRequest = 0x010
        case preferredGHCBResponse = 0x011
        case registerGHCBRequest = 0x012
        case registerGHCBResponse = 0x013
        case pageStateChangeRequest = 0x014
        case pageStateChangeResponse = 0x015
        case hypervisorFeaturesRequest = 0x080
        case hypervisorFeaturesResponse = 0x081
        case terminateRequest = 0x100
    }

    public static let infoMask: UInt64 = 0xfff

    /// Protocol versions this kernel speaks: version 2 carries what SNP needs (GPA registration, page
    /// state change, hypervisor features, the extended guest request).
    public static let protocolMinimum: UInt16 = 1
    public static let protocolMaximum: UInt16 = 2

    /// The four CPUID result registers a CPUID request can ask for, one per request.
    public enum CPUIDRegister: UInt64, Sendable, CaseIterable {
        case eax = 0, ebx = 1, ecx = 2, edx = 3
    }

    /// Why a response was not the one asked for.
    public enum ResponseError: Error, Equatable, Sendable {
        /// The hypervisor answered with another GHCBInfo code (or none it defines).
        case unexpectedInfo(expected: UInt64, found: UInt64)
        /// A page state change or GPA registration the hypervisor refused (its error value).
        case refused(UInt64)
    }

    static func expect(_ value: UInt64, _ info: Info) throws(ResponseError) {
        guard value & infoMask == info.rawValue else { throw .unexpectedInfo(expected: info.rawValue, found: value & infoMask) }
    }

    // MARK: SEV information

    public static let sevInfoRequest: UInt64 = Info.sevInfoRequest.rawValue

    /// The SEV information response: the highest and lowest protocol versions the hypervisor speaks and
    /// the C-bit position, GHCBData[63:48], [47:32] and [31:24].
    public struct SEVInformation: Equatable, Sendable {
        public var maximumVersion: UInt16
        public var minimumVersion: UInt16
        public var encryptionBit: UInt8

        /// The version both sides speak (the highest one in both ranges), nil when the ranges do not meet.
        public var negotiatedVersion: UInt16? {
            let version = min(maximumVersion, protocolMaximum)
            return version >= max(minimumVersion, protocolMinimum) ? version : nil
        }
    }

    public static func sevInformation(_ value: UInt64) throws(ResponseError) -> SEVInformation {
        try expect(value, .sevInfoResponse)
        return SEVInformation(maximumVersion: UInt16(truncatingIfNeeded: value >> 48), minimumVersion: UInt16(truncatingIfNeeded: value >> 32),
                              encryptionBit: UInt8(truncatingIfNeeded: value >> 24))
    }

    // MARK: CPUID

    /// Asks for one register of CPUID `function` (subfunction 0: the MSR protocol carries no ECX input).
    public static func cpuidRequest(function: UInt32, register: CPUIDRegister) -> UInt64 {
        UInt64(function) << 32 | register.rawValue << 30 | Info.cpuidRequest.rawValue
    }

    /// The register's value from a CPUID response, GHCBData[63:32].
    public static func cpuidValue(_ value: UInt64) throws(ResponseError) -> UInt32 {
        try expect(value, .cpuidResponse)
        return UInt32(truncatingIfNeeded: value >> 32)
    }

    // MARK: GHCB registration (SNP)

    /// Registers the GHCB page by its guest frame number, GHCBData[63:12].
    public static func registerGHCBRequest(frame: UInt64) -> UInt64 {
        (frame & 0xf_ffff_ffff_ffff) << 12 | Info.registerGHCBRequest.rawValue
    }

    /// Succeeds when the hypervisor echoes the frame it was asked to register.
    public static func checkRegisterGHCBResponse(_ value: UInt64, frame: UInt64) throws(ResponseError) {
        try expect(value, .registerGHCBResponse)
        let echoed = value >> 12
        guard echoed == frame & 0xf_ffff_ffff_ffff else { throw .refused(echoed) }
    }

    // MARK: Page state change (SNP)

    public enum PageState: UInt64, Sendable {
        case `private` = 1
        case shared = 2
    }

    /// Changes one 4 KiB page's state: the operation in GHCBData[55:52], the frame in [51:12].
    public static func pageStateChangeRequest(frame: UInt64, to state: PageState) -> UInt64 {
        state.rawValue << 52 | (frame & 0xff_ffff_ffff) << 12 | Info.pageStateChangeRequest.rawValue
    }

    /// A response with error code 0 in GHCBData[63:32] succeeded.
    public static func checkPageStateChangeResponse(_ value: UInt64) throws(ResponseError) {
        try expect(value, .pageStateChangeResponse)
        let error = value >> 32
        guard error == 0 else { throw .refused(error) }
    }

    // MARK: Hypervisor features (protocol version 2)

    public static let hypervisorFeaturesRequest: UInt64 = Info.hypervisorFeaturesRequest.rawValue

    public struct HypervisorFeatures: OptionSet, Sendable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        public static let snp = HypervisorFeatures(rawValue: 1 << 0)
        public static let snpAPCreation = HypervisorFeatures(rawValue: 1 << 1)
        public static let snpRestrictedInjection = HypervisorFeatures(rawValue: 1 << 2)
        public static let snpRestrictedInjectionTimer = HypervisorFeatures(rawValue: 1 << 3)
        public static let apicIDList = HypervisorFeatures(rawValue: 1 << 4)
        public static let snpMultiVMPL = HypervisorFeatures(rawValue: 1 << 5)
    }

    public static func hypervisorFeatures(_ value: UInt64) throws(ResponseError) -> HypervisorFeatures {
        try expect(value, .hypervisorFeaturesResponse)
        return HypervisorFeatures(rawValue: value >> 12)
    }

    // MARK: Termination

    /// Reason sets: 0 is the GHCB specification's own, 1 is ours (Linux uses 1 for its codes; the
    /// hypervisor only reports the pair, so each guest may define set 1).
    public enum ReasonSet: UInt64, Sendable {
        case general = 0
        case unikernel = 1
    }

    /// Reason codes of set 0 (GHCB specification, "Termination Request", reason code set 0).
    public enum GeneralReason: UInt64, Sendable {
        case generalRequest = 0
        case protocolUnsupported = 1
        case snpUnsupported = 2
    }

    /// Reason codes of our set 1: what the unikernel could not do.
    public enum UnikernelReason: UInt64, Sendable {
        case registerGHCB = 0
        case pageStateChange = 1
        case pageValidation = 2
        case notVMPL0 = 3
        case cpuid = 4
        case cpuidHypervisor = 5
        case secretsPage = 6
        case unsupportedInstruction = 16
        case unexpectedException = 17
        case hypervisorError = 18
        case bootData = 19
    }

    /// Asks the hypervisor to end the guest: the set in GHCBData[15:12], the code in [23:16].
    public static func terminateRequest(set: ReasonSet, code: UInt64) -> UInt64 {
        (code & 0xff) << 16 | (set.rawValue & 0xf) << 12 | Info.terminateRequest.rawValue
    }

    public static func terminateRequest(_ reason: GeneralReason) -> UInt64 { terminateRequest(set: .general, code: reason.rawValue) }
    public static func terminateRequest(_ reason: UnikernelReason) -> UInt64 { terminateRequest(set: .unikernel, code: reason.rawValue) }
}
