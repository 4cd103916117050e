/// Everything that can go wrong while predicting a launch measurement or building an ID block.
/// Each case renders as one line that says what was expected and what was found.
public enum MeasurementError: Error, Equatable, CustomStringConvertible, Sendable {
    case unreadableFile(path: String, reason: String)
    case firmwareTooSmall(size: Int)
    case firmwareNotPageAligned(size: Int)
    case corruptFooterTable(String)
    case noFooterTable
    case missingFooterEntry(name: String, guid: String)
    case noSEVMetadata
    case corruptSEVMetadata(String)
    case unknownSectionType(UInt32)
    case kernelHashesNotSupported(String)
    case kernelHashesSectionSize(Int)
    case initrdOrAppendWithoutKernel
    case unknownVCPUType(String, known: [String])
    case vcpuSignatureRequired(mode: String)
    case vcpuCountOutOfRange(Int, max: Int)
    case invalidRange(String)
    case vcpuListOutOfRange(String, max: Int)
    case vmmNotSupported(vmm: String, mode: String)
    case unknownVMMType(String)
    case invalidOVMFHash(String)
    case svsmNeedsVarsSize
    case svsmOverlapsFirmware
    case invalidKey(String)
    case invalidIDBlockField(String)
    case invalidLength(field: String, expected: Int, found: Int)
    case noTDXMetadata
    case corruptTDXMetadata(String)
    case measuredTDHOB

    public var description: String {
        switch self {
        case let .unreadableFile(path, reason):
            return "cannot read '\(path)': \(reason)"
        case let .firmwareTooSmall(size):
            return "firmware image is \(size) bytes; an OVMF image is at least one 4 KiB page"
        case let .firmwareNotPageAligned(size):
            return "firmware image is \(size) bytes, not a multiple of 4096; not an OVMF image"
        case let .corruptFooterTable(what):
            return "corrupt OVMF footer table: \(what)"
        case .noFooterTable:
            return "firmware has no OVMF footer GUID table (96b582de-...); it is not an SEV-capable OVMF build"
        case let .missingFooterEntry(name, guid):
            return "firmware footer table has no \(name) entry (\(guid))"
        case .noSEVMetadata:
            return "firmware has no SEV metadata (ASEV); SEV-SNP needs an OVMF built with SNP support"
        case let .corruptSEVMetadata(what):
            return "corrupt SEV metadata: \(what)"
        case let .unknownSectionType(type):
            return "SEV metadata has an unknown section type 0x\(String(type, radix: 16))"
        case let .kernelHashesNotSupported(detail):
            return "a kernel was given but this firmware has no kernel-hashes table (\(detail)); measured direct kernel boot needs the OvmfPkg/AmdSev build (Ubuntu ovmf-amdsev, Fedora OVMF.amdsev.fd)"
        case let .kernelHashesSectionSize(size):
            return "SNP_KERNEL_HASHES section is \(size) bytes; expected one 4096-byte page"
        case .initrdOrAppendWithoutKernel:
            return "--initrd and --append need --kernel"
        case let .unknownVCPUType(name, known):
            return "unknown vCPU type '\(name)'; known: \(known.joined(separator: ", "))"
        case let .vcpuSignatureRequired(mode):
            return "mode \(mode) with the QEMU VMM needs a vCPU type (--cpu, --vcpu-sig or --vcpu-family/--vcpu-model/--vcpu-stepping)"
        case let .vcpuCountOutOfRange(count, max):
            return "vCPU count \(count) is out of range (1...\(max))"
        case let .vcpuListOutOfRange(text, max):
            return "vCPU count \(text.prefix(20)) is over the limit of \(max)"
        case let .invalidRange(text):
            return "not a number, list or range: '\(text.prefix(60))' (examples: 4, 1-64, 1,2,4-8)"
        case let .vmmNotSupported(vmm, mode):
            return "VMM type \(vmm) is not supported in mode \(mode)"
        case let .unknownVMMType(text):
            return "unknown VMM type '\(text.prefix(40))' (use qemu, ec2 or gce)"
        case let .invalidOVMFHash(text):
            return "OVMF hash must be 48 bytes of hex (96 digits), got '\(text.prefix(100))'"
        case .svsmNeedsVarsSize:
            return "snp:svsm mode needs --svsm and one of --vars-size or --vars-file"
        case .svsmOverlapsFirmware:
            return "SVSM image does not fit below the OVMF image and its variable store"
        case let .invalidKey(what):
            return "invalid key: \(what)"
        case let .invalidIDBlockField(what):
            return "invalid ID block field: \(what)"
        case let .invalidLength(field, expected, found):
            return "\(field) must be \(expected) bytes, got \(found)"
        case .noTDXMetadata:
            return "firmware has no TDX metadata (e47a6535-...); a TD needs a TDVF (OVMF built for TDX: Debian ovmf-inteltdx, or OVMF.fd)"
        case let .corruptTDXMetadata(what):
            return "corrupt TDX metadata: \(what)"
        case .measuredTDHOB:
            return "the TDVF asks for its TD HOB to be extended into MRTD; that HOB is QEMU's memory map and is not predicted here"
        }
    }
}
