import Crypto
import SEVABI

/// One vCPU configuration: how many, which model, which VMM, which SEV_FEATURES.
public struct VCPUConfiguration: Sendable, Hashable {
    public var count: Int
    /// Nil is allowed where the signature does not enter the digest (SEV, ec2, gce).
    public var type: VCPUType?
    public var vmm: VMMType
    public var guestFeatures: UInt64

    public init(count: Int, type: VCPUType?, vmm: VMMType = .qemu, guestFeatures: UInt64 = 0x1) {
        self.count = count
        self.type = type
        self.vmm = vmm
        self.guestFeatures = guestFeatures
    }
}

/// The COCONUT-SVSM part of an `snp:svsm` launch: the SVSM image sits directly below OVMF's variable store.
public struct SVSMInput: Sendable {
    public let image: [UInt8]
    public let varsSize: UInt64

    public init(image: [UInt8], varsSize: UInt64) {
        self.image = image
        self.varsSize = varsSize
    }
}

/// Predicts launch digests for one firmware (and optional kernel). The firmware part of the digest is
/// computed once in `init`; each `measure` or table row only adds the per-VMM metadata pages and the
/// per-vCPU VMSA pages, so whole tables cost little more than one measurement.
public struct LaunchMeasurer: Sendable {
    public static let maxVCPUs = 4096

    public let mode: LaunchMode
    public let firmware: FirmwareImage
    public let hashes: SEVHashesTable?
    /// The SVSM image placed below OVMF (snp:svsm only).
    public let svsm: FirmwareImage?

    /// SEV and SEV-ES: SHA-256 state after the firmware and the hashes table.
    private let sevStream: SHA256?
    /// SNP modes: the chain after the firmware pages (and the SVSM pages), before the metadata pages.
    public let firmwareDigest: [UInt8]?
    /// The AP reset EIP (SEV-ES and SNP) or the SVSM entry point (snp:svsm); nil where not needed.
    private let apEIP: UInt64?
    private let metadata: SEVMetadata?

    /// - Parameters:
    ///   - ovmfDigest: for `.sevSNP`, a precomputed firmware digest (from `.snpOVMFHash`) to start from
    ///     instead of hashing the firmware pages; the image still provides the footer table and metadata.
    public init(mode: LaunchMode, firmware: FirmwareImage, hashes: SEVHashesTable? = nil,
                ovmfDigest: [UInt8]? = nil, svsm: SVSMInput? = nil) throws {
        self.mode = mode
        self.firmware = firmware
        self.hashes = hashes
        if ovmfDigest != nil && mode != .sevSNP {
            throw MeasurementError.invalidOVMFHash("a precomputed OVMF hash only applies to mode sev-snp")
        }
        if let ovmfDigest, ovmfDigest.count != SNPLaunchDigest.size {
            throw MeasurementError.invalidOVMFHash(ovmfDigest.hexString)
        }
        switch mode {
        case .sev, .sevES:
            var stream = SHA256()
            firmware.bytes.withUnsafeBytes { stream.update(bufferPointer: $0) }
            if let hashes {
                guard firmware.sevHashesTableGPA != nil else {
                    throw MeasurementError.kernelHashesNotSupported("no SEV hash table entry 7255371f-... in the footer")
                }
                stream.update(data: hashes.table)
            }
            sevStream = stream
            firmwareDigest = nil
            metadata = nil
            self.svsm = nil
            apEIP = mode == .sevES ? UInt64(try firmware.sevESResetEIP()) : nil
        case .sevSNP, .snpOVMFHash:
            // The firmware digest alone needs no metadata; a launch does (OVMF cannot start an SNP guest
            // without it, although sev-snp-measure would still print a digest).
            let metadata = mode == .sevSNP ? try firmware.requireMetadata() : firmware.metadata
            if let metadata, hashes != nil {
                guard metadata.has(.snpKernelHashes) else {
                    throw MeasurementError.kernelHashesNotSupported("no SNP_KERNEL_HASHES section in the SEV metadata")
                }
                guard firmware.sevHashesTableGPA != nil else {
                    throw MeasurementError.kernelHashesNotSupported("no SEV hash table entry 7255371f-... in the footer")
                }
            }
            var chain = SNPLaunchDigest(seed: ovmfDigest ?? [UInt8](repeating: 0, count: SNPLaunchDigest.size))
            if ovmfDigest == nil { chain.addNormalPages(gpa: firmware.gpa, bytes: firmware.bytes) }
            firmwareDigest = chain.digest
            self.metadata = metadata
            sevStream = nil
            self.svsm = nil
            apEIP = mode == .sevSNP ? UInt64(try firmware.sevESResetEIP()) : nil
        case .snpSVSM:
            guard let svsm else { throw MeasurementError.svsmNeedsVarsSize }
            if hashes != nil {
                throw MeasurementError.kernelHashesNotSupported("snp:svsm mode measures no kernel hashes")
            }
            guard svsm.varsSize < firmware.gpa else { throw MeasurementError.svsmOverlapsFirmware }
            let svsmImage = try FirmwareImage(bytes: svsm.image, endAddress: firmware.gpa - svsm.varsSize)
            let metadata = try svsmImage.requireMetadata()
            let entry = try svsmImage.footer.u32(OVMFFooterTable.svsmInfoGUID, name: "SVSM info")
            var chain = SNPLaunchDigest()
            chain.addNormalPages(gpa: firmware.gpa, bytes: firmware.bytes)
            chain.addNormalPages(gpa: svsmImage.gpa, bytes: svsmImage.bytes)
            firmwareDigest = chain.digest
            self.metadata = metadata
            self.svsm = svsmImage
            sevStream = nil
            apEIP = UInt64(entry) + svsmImage.gpa
        }
    }

    /// The SNP chain after the metadata pages, which depend on the VMM (gce leaves SNP_SEC_MEM
    /// unmeasured; ec2 adds the CPUID page after every other section).
    public func metadataDigest(vmm: VMMType) throws -> SNPLaunchDigest {
        guard let firmwareDigest, let metadata else { return SNPLaunchDigest() }
        var chain = SNPLaunchDigest(seed: firmwareDigest)
        for section in metadata.sections {
            let gpa = UInt64(section.gpa), size = UInt64(section.size)
            switch section.type {
            case .snpSecMem:
                chain.addPages(vmm == .gce ? .unmeasured : .zero, gpa: gpa, length: size)
            case .snpSecrets:
                chain.update(type: .secrets, gpa: gpa, contents: Self.zeroDigest)
            case .cpuid:
                if vmm != .ec2 { chain.update(type: .cpuid, gpa: gpa, contents: Self.zeroDigest) }
            case .snpKernelHashes:
                if let hashes, let tableGPA = firmware.sevHashesTableGPA {
                    guard size == 4096 else { throw MeasurementError.kernelHashesSectionSize(Int(size)) }
                    chain.addNormalPages(gpa: gpa, bytes: try hashes.page(offset: Int(tableGPA & 0xFFF)))
                } else {
                    chain.addPages(.zero, gpa: gpa, length: size)
                }
            case .svsmCAA:
                chain.addPages(.zero, gpa: gpa, length: size)
            }
        }
        if vmm == .ec2 {
            for section in metadata.sections where section.type == .cpuid {
                chain.update(type: .cpuid, gpa: UInt64(section.gpa), contents: Self.zeroDigest)
            }
        }
        return chain
    }

    private static let zeroDigest = [UInt8](repeating: 0, count: SNPLaunchDigest.size)

    /// The bootstrap and application processor VMSA pages for one configuration.
    public func vmsaPages(for configuration: VCPUConfiguration) throws -> (bsp: [UInt8], ap: [UInt8]) {
        let signature = try signature(for: configuration)
        switch mode {
        case .sev, .snpOVMFHash:
            return ([], [])
        case .snpSVSM:
            let page = VMSA(svsmEntry: apEIP ?? 0, vcpuSignature: signature).page
            return (page, page)
        case .sevES, .sevSNP:
            let features = mode == .sevES ? 0 : configuration.guestFeatures
            let eip = UInt32(truncatingIfNeeded: apEIP ?? 0)
            return (VMSA(eip: VMSA.bspEIP, vmm: configuration.vmm, vcpuSignature: signature, sevFeatures: features).page,
                    VMSA(eip: eip, vmm: configuration.vmm, vcpuSignature: signature, sevFeatures: features).page)
        }
    }

    private func signature(for configuration: VCPUConfiguration) throws -> UInt32 {
        guard mode.measuresVCPUs else { return 0 }
        if mode == .snpSVSM && configuration.vmm != .qemu {
            throw MeasurementError.vmmNotSupported(vmm: configuration.vmm.rawValue, mode: mode.rawValue)
        }
        guard (1...Self.maxVCPUs).contains(configuration.count) else {
            throw MeasurementError.vcpuCountOutOfRange(configuration.count, max: Self.maxVCPUs)
        }
        if let type = configuration.type { return type.signature }
        guard configuration.vmm == .qemu else { return 0 }
        throw MeasurementError.vcpuSignatureRequired(mode: mode.rawValue)
    }

    /// The launch digest of one configuration (32 bytes for SEV and SEV-ES, 48 for SNP modes).
    public func measure(_ configuration: VCPUConfiguration) throws -> [UInt8] {
        try digests(counts: [configuration.count], base: configuration)[configuration.count] ?? []
    }

    /// Digests for every count in `counts` that share the other fields of `base`. The VMSA chain for N
    /// vCPUs is a prefix of the chain for N+1, so one pass up to the largest count yields all of them.
    public func digests(counts: [Int], base: VCPUConfiguration) throws -> [Int: [UInt8]] {
        guard let largest = counts.max() else { return [:] }
        for count in counts {
            var check = base
            check.count = count
            _ = try signature(for: check)
        }
        let wanted = Set(counts)
        var out: [Int: [UInt8]] = [:]
        switch mode {
        case .sev:
            guard let sevStream else { return [:] }
            let digest = Array(sevStream.finalize())
            for count in wanted { out[count] = digest }
        case .snpOVMFHash:
            for count in wanted { out[count] = firmwareDigest ?? [] }
        case .sevES:
            guard var stream = sevStream else { return [:] }
            let pages = try vmsaPages(for: base)
            for index in 0..<largest {
                stream.update(data: index == 0 ? pages.bsp : pages.ap)
                if wanted.contains(index + 1) { out[index + 1] = Array(stream.finalize()) }
            }
        case .sevSNP, .snpSVSM:
            var chain = try metadataDigest(vmm: base.vmm)
            let pages = try vmsaPages(for: base)
            let bsp = Array(SHA384.hash(data: pages.bsp)), ap = Array(SHA384.hash(data: pages.ap))
            for index in 0..<largest {
                chain.addVMSA(pageDigest: index == 0 ? bsp : ap)
                if wanted.contains(index + 1) { out[index + 1] = chain.digest }
            }
        }
        return out
    }
}
