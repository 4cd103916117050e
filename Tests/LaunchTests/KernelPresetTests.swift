import Foundation
@testable import Launch
import SEVABI
import Testing

/// Kernel files built byte by byte from the specifications (ELF, Linux boot protocol, PE/COFF,
/// multiboot 1.6), independent of the detector.
enum SpecImages {
    static func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for (index, byte) in raw.enumerated() { bytes[offset + index] = byte }
        }
    }

    /// An x86 ELF with one PT_NOTE program header holding the given notes (name, type, descriptor).
    static func elf(is64: Bool, notes: [(name: String, type: UInt32, desc: [UInt8])] = [], size: Int = 4096) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: size)
        b[0...3] = [0x7F, 0x45, 0x4C, 0x46]
        b[4] = is64 ? 2 : 1  // EI_CLASS
        b[5] = 1             // little endian
        b[6] = 1             // EV_CURRENT
        put(UInt16(2), at: 16, in: &b)              // ET_EXEC
        put(UInt16(is64 ? 62 : 3), at: 18, in: &b)  // EM_X86_64 / EM_386
        var note: [UInt8] = []
        for n in notes {
            let name = Array(n.name.utf8) + [0]
            var header = [UInt8](repeating: 0, count: 12)
            put(UInt32(name.count), at: 0, in: &header)
            put(UInt32(n.desc.count), at: 4, in: &header)
            put(n.type, at: 8, in: &header)
            note += header + name + [UInt8](repeating: 0, count: (4 - name.count % 4) % 4)
            note += n.desc + [UInt8](repeating: 0, count: (4 - n.desc.count % 4) % 4)
        }
        let noteOffset = 0x200
        b.replaceSubrange(noteOffset..<noteOffset + note.count, with: note)
        if is64 {
            put(UInt64(0x40), at: 0x20, in: &b)  // e_phoff
            put(UInt16(56), at: 0x36, in: &b)    // e_phentsize
            put(UInt16(1), at: 0x38, in: &b)     // e_phnum
            put(UInt32(4), at: 0x40, in: &b)     // PT_NOTE
            put(UInt64(noteOffset), at: 0x40 + 8, in: &b)
            put(UInt64(note.count), at: 0x40 + 32, in: &b)
        } else {
            put(UInt32(0x34), at: 0x1C, in: &b)
            put(UInt16(32), at: 0x2A, in: &b)
            put(UInt16(1), at: 0x2C, in: &b)
            put(UInt32(4), at: 0x34, in: &b)
            put(UInt32(noteOffset), at: 0x34 + 4, in: &b)
            put(UInt32(note.count), at: 0x34 + 16, in: &b)
        }
        return b
    }

    static func pvhNote(entry: UInt32) -> (name: String, type: UInt32, desc: [UInt8]) {
        var desc = [UInt8](repeating: 0, count: 4)
        put(entry, at: 0, in: &desc)
        return ("Xen", 18, desc)
    }

    /// A multiboot v1 header (magic, flags, checksum) written at `offset`.
    static func addMultiboot(to bytes: inout [UInt8], at offset: Int, flags: UInt32, validChecksum: Bool = true) {
        let magic: UInt32 = 0x1BAD_B002
        put(magic, at: offset, in: &bytes)
        put(flags, at: offset + 4, in: &bytes)
        put(validChecksum ? 0 &- (magic &+ flags) : 0x1234_5678, at: offset + 8, in: &bytes)
    }

    /// A bzImage: boot flag 0xAA55 at 0x1FE, "HdrS" at 0x202, protocol version at 0x206.
    static func bzImage(version: UInt16 = 0x020F) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 16384)
        b[0x1F1] = 4
        put(UInt16(0xAA55), at: 0x1FE, in: &b)
        b[0x202...0x205] = [0x48, 0x64, 0x72, 0x53]
        put(version, at: 0x206, in: &b)
        return b
    }

    /// A PE32+ image: "MZ", e_lfanew at 0x3C, "PE\0\0", COFF header, optional header with Subsystem.
    static func pe(subsystem: UInt16 = 10, machine: UInt16 = 0x8664, size: Int = 8192) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: size)
        b[0] = 0x4D; b[1] = 0x5A
        put(UInt32(0x80), at: 0x3C, in: &b)
        b[0x80...0x83] = [0x50, 0x45, 0, 0]
        put(machine, at: 0x84, in: &b)
        put(UInt16(240), at: 0x80 + 20, in: &b)      // SizeOfOptionalHeader (PE32+)
        put(UInt16(0x20B), at: 0x80 + 24, in: &b)    // PE32+ magic
        put(subsystem, at: 0x80 + 24 + 68, in: &b)
        return b
    }
}

struct KernelImageDetectorTests {
    @Test func linuxSetupHeaderIsLinux() throws {
        let info = try KernelImageDetector.inspect(SpecImages.bzImage(version: 0x020F))
        #expect(info.detected == .linux)
        #expect(info.linuxProtocolVersion == 0x020F)
    }

    @Test func aBzImageWithAnEFIStubIsStillLinuxButCanBootAsEFI() throws {
        var bytes = SpecImages.pe()
        let linux = SpecImages.bzImage()
        bytes.replaceSubrange(0x1F1..<0x208, with: linux[0x1F1..<0x208])
        let info = try KernelImageDetector.inspect(bytes)
        #expect(info.detected == .linux)
        #expect(info.supports(.efi))
        #expect(info.markers == [.linux, .efi])
    }

    @Test func anEFIApplicationIsEFI() throws {
        let info = try KernelImageDetector.inspect(SpecImages.pe())
        #expect(info.detected == .efi)
        #expect(info.peSubsystem == 10)
        #expect(info.peMachine == 0x8664)
    }

    @Test func aPEThatIsNotAnEFIApplicationOrNotX64IsRefused() {
        #expect(throws: KernelImageError.self) { try KernelImageDetector.inspect(SpecImages.pe(subsystem: 3)) }
        #expect(throws: KernelImageError.self) { try KernelImageDetector.inspect(SpecImages.pe(machine: 0xAA64)) }
    }

    @Test func anEFIApplicationShorterThanQEMUsSetupAreaIsRefused() {
        // (0 → 4 sectors + 1) * 512 = 2560 bytes: QEMU says "invalid kernel header" for less.
        #expect(throws: KernelImageError.self) { try KernelImageDetector.inspect(SpecImages.pe(size: 2048)) }
        #expect((try? KernelImageDetector.inspect(SpecImages.pe(size: 2560)))?.detected == .efi)
    }

    @Test func aMultibootHeaderInTheFirst8KiBIsMultiboot() throws {
        var raw = [UInt8](repeating: 0x90, count: 16384)
        SpecImages.addMultiboot(to: &raw, at: 0x1000, flags: 0x0001_0003)
        let info = try KernelImageDetector.inspect(raw)
        #expect(info.detected == .multiboot)
        #expect(info.multibootHeaderOffset == 0x1000)
        #expect(info.multibootFlags == 0x0001_0003)
    }

    @Test func aMultibootHeaderWithABadChecksumOrBeyond8KiBIsNotFound() {
        var bad = [UInt8](repeating: 0, count: 16384)
        SpecImages.addMultiboot(to: &bad, at: 0x100, flags: 0, validChecksum: false)
        #expect(throws: KernelImageError.noKnownHeader) { try KernelImageDetector.inspect(bad) }
        var late = [UInt8](repeating: 0, count: 16384)
        SpecImages.addMultiboot(to: &late, at: 8192, flags: 0)
        #expect(throws: KernelImageError.noKnownHeader) { try KernelImageDetector.inspect(late) }
    }

    @Test func multiboot2IsNamedAsUnsupported() throws {
        var raw = [UInt8](repeating: 0, count: 4096)
        SpecImages.put(UInt32(0xE852_50D6), at: 0x40, in: &raw)
        do {
            _ = try KernelImageDetector.inspect(raw)
            Issue.record("multiboot2 was accepted")
        } catch {
            #expect("\(error)".contains("multiboot2"))
        }
    }

    @Test(arguments: [false, true])
    func anELFWithAPVHNoteIsPVH(is64: Bool) throws {
        let elf = SpecImages.elf(is64: is64, notes: [("GNU", 3, [1, 2, 3, 4]), SpecImages.pvhNote(entry: 0x0010_0040)])
        let info = try KernelImageDetector.inspect(elf)
        #expect(info.detected == .pvh)
        #expect(info.pvhEntry == 0x0010_0040)
        #expect(info.elfClass == (is64 ? 64 : 32))
    }

    @Test func anELFWithoutNoteOrHeaderIsRefusedWithTheReason() throws {
        do {
            _ = try KernelImageDetector.inspect(SpecImages.elf(is64: true, notes: [("GNU", 3, [0, 0, 0, 0])]))
            Issue.record("accepted an ELF QEMU cannot boot")
        } catch {
            #expect("\(error)".contains("PVH note"))
        }
    }

    @Test func multibootWinsOverPVHAsInQEMUAndA64BitELFNeedsTheAddressKludge() throws {
        var elf32 = SpecImages.elf(is64: false, notes: [SpecImages.pvhNote(entry: 0x100000)])
        SpecImages.addMultiboot(to: &elf32, at: 0x400, flags: 0)
        let info = try KernelImageDetector.inspect(elf32)
        #expect(info.detected == .multiboot)
        #expect(info.markers == [.pvh, .multiboot])

        var elf64 = SpecImages.elf(is64: true, notes: [SpecImages.pvhNote(entry: 0x100000)])
        SpecImages.addMultiboot(to: &elf64, at: 0x400, flags: 0)
        #expect(throws: KernelImageError.self) { try KernelImageDetector.inspect(elf64) }
        var kludge = SpecImages.elf(is64: true)
        SpecImages.addMultiboot(to: &kludge, at: 0x400, flags: 0x0001_0000)
        #expect(try KernelImageDetector.inspect(kludge).detected == .multiboot)
    }

    @Test func aNoteRunningPastItsSegmentIsMalformed() {
        var elf = SpecImages.elf(is64: true, notes: [SpecImages.pvhNote(entry: 0x100000)])
        SpecImages.put(UInt32(0x7FFF_0000), at: 0x200 + 4, in: &elf)  // descsz far beyond the segment
        #expect(throws: KernelImageError.self) { try KernelImageDetector.inspect(elf) }
    }

    @Test func everyTruncationOfEveryKindEndsInAnErrorOrAResultNeverATrap() {
        var pvhMultiboot = SpecImages.elf(is64: false, notes: [SpecImages.pvhNote(entry: 0x100000)])
        SpecImages.addMultiboot(to: &pvhMultiboot, at: 0x400, flags: 0)
        let images = [SpecImages.elf(is64: true, notes: [SpecImages.pvhNote(entry: 0x100000)]), pvhMultiboot,
                      SpecImages.bzImage(), SpecImages.pe()]
        for image in images {
            for length in stride(from: 0, through: min(image.count, 0x300), by: 1) {
                _ = try? KernelImageDetector.inspect(Array(image.prefix(length)))
            }
        }
        #expect(throws: KernelImageError.empty) { try KernelImageDetector.inspect([]) }
        // A truncated ELF header is named as such.
        do {
            _ = try KernelImageDetector.inspect(Array(images[0].prefix(40)))
            Issue.record("a 40-byte ELF was accepted")
        } catch {
            #expect("\(error)".contains("truncated"))
        }
    }

    @Test func garbageIsRefusedWithOneLine() {
        var generator = SystemRandomNumberGenerator()
        for size in [1, 7, 64, 600, 5000, 70000] {
            let garbage = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            do {
                let info = try KernelImageDetector.inspect(garbage)
                // Random bytes can only pass by carrying a real marker.
                #expect(!info.markers.isEmpty)
            } catch {
                #expect(!"\(error)".contains("\n"))
            }
        }
        // Markers with hostile offsets: e_lfanew and e_phoff pointing far outside the file.
        var mz = SpecImages.pe()
        SpecImages.put(UInt32(0xFFFF_FFF0), at: 0x3C, in: &mz)
        #expect(throws: KernelImageError.self) { try KernelImageDetector.inspect(mz) }
        var elf = SpecImages.elf(is64: true)
        SpecImages.put(UInt64.max - 8, at: 0x20, in: &elf)
        #expect(throws: KernelImageError.self) { try KernelImageDetector.inspect(elf) }
        var phnum = SpecImages.elf(is64: false)
        SpecImages.put(UInt16(0xFFFF), at: 0x2C, in: &phnum)
        #expect(throws: KernelImageError.self) { try KernelImageDetector.inspect(phnum) }
    }
}

struct KernelPresetRenderingTests {
    func value(after option: String, in args: [String]) -> [String] {
        args.indices.filter { args[$0] == option && $0 + 1 < args.count }.map { args[$0 + 1] }
    }

    /// A spec as `cvm run --preset` builds it.
    func spec(_ preset: GuestPreset, accelerator: Accelerator, mode: ConfidentialMode = .none) -> LaunchSpec {
        let profile = preset.profile
        let boot: BootSource
        let proto: BootProtocol?
        switch profile.boot {
        case .kernel(let protocols):
            boot = .kernel(path: "/k/kernel", initrd: profile.needsInitrd ? "/k/app" : nil, cmdline: profile.defaultCmdline)
            proto = protocols.first
        case .disk:
            boot = .disk(path: "/k/disk.img", format: "raw")
            proto = nil
        }
        let firmware: Firmware = mode.isConfidential ? .ovmfPflash(code: "/fw/CODE.fd", vars: "/vm/VARS.fd") : .seabios
        var spec = LaunchSpec(name: "p", boot: boot, mode: mode, vcpus: profile.vcpus, memoryMiB: profile.memoryMiB,
                              firmware: firmware, accelerator: accelerator, cbitpos: 51, reducedPhysBits: 1)
        spec.kernelProtocol = proto
        spec.machineType = profile.machineType
        spec.diskBus = profile.diskBus
        spec.userNetwork = profile.userNetwork
        spec.extraQEMUArguments = profile.extraQEMUArguments(mode: mode)
        if !mode.isConfidential { spec.cpuModel = profile.cpuModel(for: accelerator) }
        return spec
    }

    // Expected values are the projects' documented QEMU invocations.
    @Test func unikraftIsKraftsPCMachineWithHostCPUUnderKVM() throws {
        let kvm = try QEMUCommandLine.render(spec(.unikraft, accelerator: .kvm))
        #expect(value(after: "-machine", in: kvm) == ["pc"])
        #expect(value(after: "-cpu", in: kvm) == ["host,+x2apic,-pmu"])
        #expect(value(after: "-m", in: kvm) == ["64M"])
        #expect(value(after: "-kernel", in: kvm) == ["/k/kernel"])
        #expect(!kvm.contains("-bios") && !kvm.joined(separator: " ").contains("pflash"))
        let tcg = try QEMUCommandLine.render(spec(.unikraft, accelerator: .tcg))
        #expect(value(after: "-cpu", in: tcg) == ["max"])
    }

    @Test func hermitIsTheLoaderWithTheApplicationAsInitrdAndTheDocumentedCPUFlags() throws {
        let args = try QEMUCommandLine.render(spec(.hermit, accelerator: .tcg))
        #expect(value(after: "-cpu", in: args) == ["qemu64,apic,fsgsbase,fxsr,rdrand,rdtscp,xsave,xsaveopt"])
        #expect(value(after: "-initrd", in: args) == ["/k/app"])
        #expect(value(after: "-m", in: args) == ["128M"])
        #expect(value(after: "-device", in: args).contains("isa-debug-exit,iobase=0xf4,iosize=0x04"))
    }

    @Test func nanosIsOpsQ35WithVirtioSCSIRNGNetAndItsExitPort() throws {
        let args = try QEMUCommandLine.render(spec(.nanos, accelerator: .tcg))
        let devices = value(after: "-device", in: args)
        #expect(value(after: "-machine", in: args) == ["q35"])
        #expect(value(after: "-cpu", in: args) == ["max"])
        #expect(value(after: "-m", in: args) == ["2048M"])
        #expect(devices.contains("virtio-scsi-pci,id=scsi0") && devices.contains("scsi-hd,bus=scsi0.0,drive=disk0"))
        #expect(devices.contains("virtio-rng-pci"))
        #expect(devices.contains("isa-debug-exit,iobase=0x501,iosize=0x02"))
        #expect(devices.contains("virtio-net-pci,netdev=net0"))
        #expect(!devices.contains { $0.hasPrefix("virtio-blk") })
    }

    @Test func osvIsRunPysVirtioBlkNetRNGWithFourVCPUs() throws {
        let args = try QEMUCommandLine.render(spec(.osv, accelerator: .kvm))
        let devices = value(after: "-device", in: args)
        #expect(value(after: "-cpu", in: args) == ["host,+x2apic"])
        #expect(value(after: "-smp", in: args) == ["4"])
        #expect(value(after: "-m", in: args) == ["2048M"])
        #expect(devices.contains("virtio-blk-pci,drive=disk0") && devices.contains("virtio-rng-pci") && devices.contains("virtio-net-pci,netdev=net0"))
    }

    @Test func nanosUnderSEVPutsEveryVirtioDeviceBehindTheIOMMUPlatform() throws {
        let args = try QEMUCommandLine.render(spec(.nanos, accelerator: .kvm, mode: .sev))
        for device in value(after: "-device", in: args) where device.hasPrefix("virtio") {
            #expect(device.contains("iommu_platform=on"), "\(device)")
        }
        #expect(value(after: "-object", in: args).contains { $0.hasPrefix("sev-guest,") })
    }

    /// Which modes each preset may run in: SEV needs OVMF and guest support (see the preset sources).
    @Test func confidentialModesArePermittedOnlyWhereFirmwareAndGuestCanCarrySEV() {
        let allowed: [GuestPreset: [ConfidentialMode]] = [.unikraft: [], .hermit: [], .osv: [], .nanos: [.sev]]
        for preset in GuestPreset.allCases {
            for mode in [ConfidentialMode.sev, .sevES, .sevSNP] {
                let refusal = preset.profile.refusal(for: mode)
                #expect((refusal == nil) == allowed[preset, default: []].contains(mode), "\(preset) \(mode)")
                if let refusal {
                    #expect(refusal.hasPrefix("\(mode.rawValue) refused for \(preset.rawValue): "))
                    #expect(!refusal.contains("\n"))
                }
            }
            #expect(preset.profile.refusal(for: .none) == nil)
        }
    }

    @Test func firmwareRulesOfTheProtocolsHoldInValidation() {
        func kernelSpec(_ proto: BootProtocol, _ firmware: Firmware, _ mode: ConfidentialMode = .none) -> LaunchSpec {
            var spec = LaunchSpec(name: "k", boot: .kernel(path: "/k", initrd: nil, cmdline: ""), mode: mode, firmware: firmware,
                                  accelerator: mode.isConfidential ? .kvm : .tcg)
            spec.kernelProtocol = proto
            return spec
        }
        let ovmf = Firmware.ovmfPflash(code: "/c", vars: "/v")
        for proto in [BootProtocol.pvh, .multiboot] {
            #expect(throws: LaunchError.self) { try kernelSpec(proto, ovmf).validate() }
            for mode in [ConfidentialMode.sev, .sevES] {
                do {
                    try kernelSpec(proto, ovmf, mode).validate()
                    Issue.record("\(proto) accepted \(mode)")
                } catch {
                    #expect("\(error)".contains("no firmware to carry SEV"))
                }
            }
            #expect(throws: Never.self) { try kernelSpec(proto, .seabios).validate() }
        }
        #expect(throws: LaunchError.self) { try kernelSpec(.efi, .seabios).validate() }
        #expect(throws: Never.self) { try kernelSpec(.efi, .ovmfBios(path: "/o"), .sevSNP).validate() }
        #expect(throws: Never.self) { try kernelSpec(.linux, ovmf, .sevES).validate() }
    }

    @Test func theTCGNoticeNamesRDSEEDAndTheFixOnlyWhenMissing() {
        let unikraft = GuestPreset.unikraft.profile
        let missing = unikraft.tcgNotices(cpuModel: "max", offered: ["rdrand": true, "rdseed": false])
        #expect(missing.count == 1)
        #expect(missing.first?.contains("offers no RDSEED on this QEMU") == true)
        #expect(missing.first?.contains("offers no RDRAND") == false)
        #expect(missing.first?.contains("KVM") == true && missing.first?.contains("random") == true)
        #expect(unikraft.tcgNotices(cpuModel: "max", offered: ["rdrand": true, "rdseed": true]).isEmpty)
        #expect(unikraft.tcgNotices(cpuModel: "max", offered: ["rdrand": nil, "rdseed": nil]).isEmpty)
        #expect(GuestPreset.nanos.profile.tcgNotices(cpuModel: "max", offered: [:]).isEmpty)
    }

    /// The probe's answer for RDSEED under TCG against QEMU's own warning for an explicit +rdseed.
    @Test func theCPUProbeAgreesWithQEMUsOwnTCGWarning() throws {
        let offered = try CPUFeatureProbe.offered(["rdseed", "rdrand", "no-such-feature"], cpuModel: "max", accelerator: .tcg)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-cpu", "max,+rdseed", "-nodefaults",
                             "-display", "none", "-S", "-qmp", "stdio"]
        let input = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(#"{"execute":"qmp_capabilities"}{"execute":"quit"}"#.utf8))
        try input.fileHandleForWriting.close()
        let warning = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let tcgLacksRDSEED = warning.contains("TCG doesn't support requested feature") && warning.contains("rdseed")
        #expect(offered["rdseed"] == .some(!tcgLacksRDSEED))
        #expect(offered["rdrand"] == .some(true))
        #expect(offered["no-such-feature"] == .some(nil))
    }

    @Test(arguments: [GuestPreset.unikraft, .hermit, .nanos, .osv])
    func presetDomainsValidateAgainstTheLibvirtSchemas(preset: GuestPreset) throws {
        try #require(LibvirtDomainXMLTests.hasValidator, "virt-xml-validate is needed (apt-get install libvirt-clients)")
        let xml = try LibvirtDomainXML.render(spec(preset, accelerator: .tcg))
        let result = try LibvirtDomainXMLTests.validate(xml)
        #expect(result.ok, "\(result.output)\n\(xml)")
        #expect(xml.contains("machine='\(preset.profile.machineType)'"))
        if preset == .nanos {
            #expect(xml.contains("<controller model='virtio-scsi' type='scsi'/>"))
            #expect(xml.contains("<qemu:arg value='virtio-rng-pci'/>"))
        }
        if case .kernel = preset.profile.boot {
            #expect(xml.contains("<kernel>/k/kernel</kernel>") && !xml.contains("<loader"))
        }
    }

    @Test func thePresetTableListsEveryPresetAndEveryRefusalReason() {
        let table = GuestPreset.table()
        for preset in GuestPreset.allCases {
            #expect(table.contains("\n\(preset.rawValue) "))
            #expect(table.contains("\(preset.rawValue): source: "))
        }
        #expect(table.contains("no firmware to carry SEV"))
        #expect(table.contains("RDSEED"))
    }
}
