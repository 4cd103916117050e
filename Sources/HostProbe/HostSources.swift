import HostOS
import SEVABI

/// The registers of one CPUID leaf.
public struct CPUIDRegisters: Sendable, Hashable, Codable {
    public var eax: UInt32
    public var ebx: UInt32
    public var ecx: UInt32
    public var edx: UInt32

    public init(eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32) {
        self.eax = eax
        self.ebx = ebx
        self.ecx = ecx
        self.edx = edx
    }

    public static let zero = CPUIDRegisters(eax: 0, ebx: 0, ecx: 0, edx: 0)
}

/// Executes CPUID.
public protocol CPUIDSource: Sendable {
    func query(leaf: UInt32, subleaf: UInt32) -> CPUIDRegisters
}

/// Why an MSR could not be read.
public enum MSRReadError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// /dev/cpu/N/msr does not exist: the msr module is not loaded.
    case noDevice
    /// The device exists but may not be opened (needs root / CAP_SYS_RAWIO).
    case permissionDenied
    /// The read faulted: the CPU (or the hypervisor) does not implement this MSR.
    case notImplemented
    case other(errno: Int32)

    public var description: String {
        switch self {
        case .noDevice: return "/dev/cpu/0/msr is missing (msr module not loaded)"
        case .permissionDenied: return "permission denied on /dev/cpu/0/msr (needs root)"
        case .notImplemented: return "the read faulted (MSR not implemented here)"
        case .other(let errno): return "read failed (errno \(errno))"
        }
    }
}

/// Reads model-specific registers of CPU 0.
public protocol MSRReader: Sendable {
    func read(_ msr: UInt32) -> Result<UInt64, MSRReadError>
}

/// Why an SEV firmware command failed.
public struct SEVCommandFailure: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var errno: Int32
    public var firmwareError: UInt32

    public init(errno: Int32, firmwareError: UInt32) {
        self.errno = errno
        self.firmwareError = firmwareError
    }

    public var description: String {
        firmwareError != 0 ? "firmware error 0x\(String(firmwareError, radix: 16))" : "ioctl failed (errno \(errno))"
    }
}

/// The AMD Secure Processor reached through /dev/sev.
public protocol SEVFirmware: Sendable {
    func platformStatus() -> Result<SEVPlatformStatus, SEVCommandFailure>
    func snpPlatformStatus() -> Result<SNPPlatformStatus, SEVCommandFailure>
}

/// How far a minimal guest got under KVM, driven through the raw ioctls.
public struct KVMProbeResult: Sendable, Hashable, Codable {
    public var deviceAccess: PathAccess
    public var apiVersion: Int?
    public var vmCreated: Bool
    public var vcpuCreated: Bool
    public var guestRanToHalt: Bool
    public var failedStep: String?
    public var errno: Int32?

    public init(deviceAccess: PathAccess, apiVersion: Int?, vmCreated: Bool, vcpuCreated: Bool,
                guestRanToHalt: Bool, failedStep: String?, errno: Int32?) {
        self.deviceAccess = deviceAccess
        self.apiVersion = apiVersion
        self.vmCreated = vmCreated
        self.vcpuCreated = vcpuCreated
        self.guestRanToHalt = guestRanToHalt
        self.failedStep = failedStep
        self.errno = errno
    }
}

public protocol KVMProber: Sendable {
    func probe() -> KVMProbeResult
}

/// Process-level facts.
public struct SystemFacts: Sendable, Hashable, Codable {
    public var kernelRelease: String
    public var memlockLimitBytes: UInt64?
    public var hostname: String

    public init(kernelRelease: String, memlockLimitBytes: UInt64?, hostname: String) {
        self.kernelRelease = kernelRelease
        self.memlockLimitBytes = memlockLimitBytes
        self.hostname = hostname
    }
}

/// Everything the host check may ask, in one value: the real host or a recording of one.
public struct HostSources: Sendable {
    public var cpuid: any CPUIDSource
    public var msr: any MSRReader
    public var files: any HostFileSystem
    public var sev: any SEVFirmware
    public var kvm: any KVMProber
    public var commands: any CommandRunner
    public var system: SystemFacts

    public init(cpuid: any CPUIDSource, msr: any MSRReader, files: any HostFileSystem, sev: any SEVFirmware,
                kvm: any KVMProber, commands: any CommandRunner, system: SystemFacts) {
        self.cpuid = cpuid
        self.msr = msr
        self.files = files
        self.sev = sev
        self.kvm = kvm
        self.commands = commands
        self.system = system
    }
}
