import CHostAccess
import Foundation
import HostOS
import SEVABI

/// CPUID of the CPU this process runs on.
public struct NativeCPUID: CPUIDSource {
    public init() {}
    public func query(leaf: UInt32, subleaf: UInt32) -> CPUIDRegisters {
        var regs = chost_cpuid_regs()
        guard chost_cpuid(leaf, subleaf, &regs) == 0 else { return .zero }
        return CPUIDRegisters(eax: regs.eax, ebx: regs.ebx, ecx: regs.ecx, edx: regs.edx)
    }
}

/// MSRs of CPU 0 through /dev/cpu/0/msr.
public struct DeviceMSRReader: MSRReader {
    public init() {}
    public func read(_ msr: UInt32) -> Result<UInt64, MSRReadError> {
        var value: UInt64 = 0
        let rc = chost_read_msr(0, msr, &value)
        switch rc {
        case 0: return .success(value)
        case -ENOENT, -ENXIO, -ENODEV: return .failure(.noDevice)
        case -EACCES, -EPERM: return .failure(.permissionDenied)
        case -EIO: return .failure(.notImplemented)
        default: return .failure(.other(errno: -rc))
        }
    }
}

/// /dev/sev through the SEV_ISSUE_CMD ioctl.
public struct DeviceSEVFirmware: SEVFirmware {
    public var devicePath: String

    public init(devicePath: String = "/dev/sev") {
        self.devicePath = devicePath
    }

    /// Command identifiers of `enum sev_cmd_id` in <linux/psp-sev.h>.
    enum Command: UInt32 {
        case platformStatus = 1
        case snpPlatformStatus = 9
    }

    private func issue(_ command: Command, count: Int) -> Result<[UInt8], SEVCommandFailure> {
        // SNP_PLATFORM_STATUS wants a page-aligned buffer; one page suits both commands.
        guard let page = UnsafeMutableRawPointer.allocateAligned(size: 4096, alignment: 4096) else {
            return .failure(SEVCommandFailure(errno: ENOMEM, firmwareError: 0))
        }
        defer { free(page) }
        memset(page, 0, 4096)
        var firmwareError: UInt32 = 0
        let rc = chost_sev_command(devicePath, command.rawValue, page, &firmwareError)
        guard rc == 0 else { return .failure(SEVCommandFailure(errno: -rc, firmwareError: firmwareError)) }
        return .success([UInt8](UnsafeRawBufferPointer(start: page, count: count)))
    }

    public func platformStatus() -> Result<SEVPlatformStatus, SEVCommandFailure> {
        issue(.platformStatus, count: SEVPlatformStatus.byteCount).flatMap { bytes in
            (try? SEVPlatformStatus(bytes: bytes)).map { .success($0) } ?? .failure(SEVCommandFailure(errno: EIO, firmwareError: 0))
        }
    }

    public func snpPlatformStatus() -> Result<SNPPlatformStatus, SEVCommandFailure> {
        issue(.snpPlatformStatus, count: SNPPlatformStatus.byteCount).flatMap { bytes in
            (try? SNPPlatformStatus(bytes: bytes)).map { .success($0) } ?? .failure(SEVCommandFailure(errno: EIO, firmwareError: 0))
        }
    }
}

extension UnsafeMutableRawPointer {
    static func allocateAligned(size: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        var pointer: UnsafeMutableRawPointer?
        return posix_memalign(&pointer, alignment, size) == 0 ? pointer : nil
    }
}

/// Drives /dev/kvm directly: API version, VM and vCPU creation, and a four-instruction guest.
public struct DeviceKVMProber: KVMProber {
    public var devicePath: String
    public var timeoutMilliseconds: Int32

    public init(devicePath: String = "/dev/kvm", timeoutMilliseconds: Int32 = 3000) {
        self.devicePath = devicePath
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    public func probe() -> KVMProbeResult {
        let access = LocalFileSystem().access(devicePath)
        guard access != .missing else {
            return KVMProbeResult(deviceAccess: .missing, apiVersion: nil, vmCreated: false, vcpuCreated: false,
                                  guestRanToHalt: false, failedStep: "open", errno: ENOENT)
        }
        var raw = chost_kvm_probe()
        chost_kvm_probe_run(devicePath, timeoutMilliseconds, &raw)
        let step = withUnsafeBytes(of: raw.failed_step) { buffer in
            String(decoding: buffer.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return KVMProbeResult(
            deviceAccess: access,
            apiVersion: raw.api_version >= 0 ? Int(raw.api_version) : nil,
            vmCreated: raw.vm_created != 0,
            vcpuCreated: raw.vcpu_created != 0,
            guestRanToHalt: raw.ran_to_halt != 0,
            failedStep: step.isEmpty ? nil : step,
            errno: raw.error_number != 0 ? raw.error_number : nil)
    }
}

extension HostSources {
    /// The machine this process runs on.
    public static func live() -> HostSources {
        var limit = rlimit()
        let memlock: UInt64? = getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit) == 0 ? UInt64(limit.rlim_cur) : nil
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let host = withUnsafeBytes(of: name.nodename) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return HostSources(
            cpuid: NativeCPUID(), msr: DeviceMSRReader(), files: LocalFileSystem(), sev: DeviceSEVFirmware(),
            kvm: DeviceKVMProber(), commands: ProcessRunner(),
            system: SystemFacts(kernelRelease: release, memlockLimitBytes: memlock == UInt64.max ? nil : memlock,
                                hostname: host))
    }
}
