import CPU

/// What the loader told the kernel: memory, command line, and what to keep away from the allocator.
struct BootInfo {
    var path: StaticString
    var regions: [MemoryRegion]
    var commandLine: [UInt8]
    var reserved: [PhysicalRange]
    /// Ranges outside the memory map that must stay private under SEV: the ROM the firmware boot runs from.
    var privateRanges: [PhysicalRange] = []
    /// What an SNP launch validated (the firmware boot: the ROM and its metadata's ranges); nil where the
    /// firmware validated all memory it handed over (OVMF) or there is no SNP path (PVH).
    var preValidated: [PhysicalRange]? = nil
}

/// Boot kinds passed by Boot/boot.S (Boot/layout.h).
let bootKindPVH: UInt32 = 1
let bootKindEFI: UInt32 = 2
let bootKindFirmware: UInt32 = 3

@_cdecl("kmain")
public func kmain(_ kind: UInt32, _ info: UInt64, _ entryTimestamp: UInt64) -> Never {
    // The IDT first: under SEV-ES and SNP the CPUIDs of detection raise #VC, and the handler's early path
    // answers them (SEV.early); the GHCB, and with it port I/O for the console, comes with SEV.setUp.
    Interrupts.install()
    Memory.bootstrapHeap()
    SEV.locatePages(kind: kind, info: info)
    Encryption.detect()
    if Encryption.detected.mode == .sevES || Encryption.detected.mode == .sevSNP {
        SEV.setUp(snp: Encryption.detected.mode == .sevSNP)
    }
    uk_enable_avx()
    Console.initialize()

    let boot: BootInfo
    switch readBootInfo(kind: kind, info: info) {
    case let .success(value): boot = value
    case let .failure(error):
        var line = ResultLine("error")
        line.field("reason", error.reason)
        line.field("detail", raw: Array(error.description.utf8))
        Console.write(line.bytes + [0x0a])
        Machine.exit(error.exitStatus)
    }
    let parsedOptions: BootOptions?
    let optionsError: CommandLineError?
    do {
        parsedOptions = try BootOptions.parse(boot.commandLine)
        optionsError = nil
    } catch {
        parsedOptions = nil
        optionsError = error
    }
    Memory.initializeFrames(regions: boot.regions, reserved: boot.reserved)
    // SNP: RAM the launch did not validate is validated before the page tables take frames from it.
    if SEV.snp, let preValidated = boot.preValidated {
        SEV.prepareValidation(required: PageValidation.required(regions: boot.regions, preValidated: preValidated),
                              policy: parsedOptions?.validation ?? .eager)
    }
    guard Memory.installPageTables(regions: boot.regions, privateRanges: boot.reserved + boot.privateRanges,
                                   sharedRanges: SEV.ghcbReady ? [SEV.sharedRange] : [],
                                   encryptionBit: Encryption.detected.encryptionBit) else {
        Console.write("cvmuk error reason=page-tables\n")
        Machine.exit(.outOfMemory)
    }
    SEV.finishValidation()
    let memoryReady = uk_rdtsc()
    let (hz, source) = Timekeeping.calibrate()
    Timekeeping.hz = hz
    var platform = KernelPlatform(timestampHz: hz, bootTimestamp: entryTimestamp)

    var line = ResultLine("info")
    line.field("boot", boot.path)
    line.field("tsc_hz", hz)
    line.field("tsc_source", source.name)
    line.field("usable_bytes", Memory.usableBytes)
    line.field("image_bytes", uk_image_end() - uk_image_start())
    line.field("avx", Int(uk_avx()))
    platform.emit(line)
    var sev = ResultLine("info")
    sev.field("sev", Encryption.detected.mode.name)
    sev.field("c_bit", Encryption.detected.encryptionBit ?? 0)
    // The command line is host input that the launch measurement does not cover: its digest lets a
    // verifier bind it (issue 12 puts it into the attestation report).
    sev.field("cmdline_sha256", hex: boot.commandLine.withUnsafeBytes { SHA256.hash($0) })
    sev.field("cmdline_bytes", boot.commandLine.count)
    platform.emit(sev)
    // The kernel runs on the bootstrap processor only. The other vCPUs stay where the platform left them
    // (waiting for an INIT-SIPI this kernel never sends; under SEV-ES and SNP their VMSAs, which the launch
    // measurement covers, never run): say how many are parked.
    if let vcpus = FirmwareConfig.cpuCount(), vcpus > 0 {
        var cpus = ResultLine("info")
        cpus.field("vcpus", vcpus)
        cpus.field("running", 1)
        cpus.field("parked", vcpus - 1)
        platform.emit(cpus)
    }
    for region in boot.regions {
        var map = ResultLine("memory")
        map.field("base", region.base)
        map.field("end", region.end)
        map.field("type", region.kind.name)
        platform.emit(map)
    }
    for (name, stamp) in [("entry", entryTimestamp), ("memory-ready", memoryReady)] as [(StaticString, UInt64)] {
        var stage = ResultLine("stage")
        stage.field("name", name)
        stage.field("tsc", stamp)
        stage.field("us", TSCCalibration.microseconds(ticks: stamp &- entryTimestamp, hz: hz))
        platform.emit(stage)
    }
    if SEV.validationPolicy != nil { platform.emit(SEV.validationLine(hz: hz)) }

    guard let options = parsedOptions else {
        var failure = ResultLine("error")
        failure.field("reason", "command-line")
        failure.field("token", raw: optionsError?.token ?? [])
        platform.emit(failure)
        Machine.exit(.badCommandLine)
    }
    if options.attest {
        platform.emit(attestationLine(options: options, commandLine: boot.commandLine, hz: hz))
    }
    var runner = WorkloadRunner(platform: platform)
    Machine.exit(runner.run(options))
}

/// `cvmuk attestation`: under SNP the report and the host's certificate table from the PSP, with the
/// time the guest request took; elsewhere why there is none. REPORT_DATA binds the nonce and the command
/// line (AttestationBinding), which `cvm run --attest` checks.
func attestationLine(options: BootOptions, commandLine: [UInt8], hz: UInt64) -> ResultLine {
    let reportData = AttestationBinding.reportData(nonce: options.attestNonce, commandLine: commandLine)
    var line = ResultLine("attestation")
    guard SEV.snp, SEV.ghcbReady else {
        line.field("status", "unavailable")
        line.field("sev", Encryption.detected.mode.name)
        line.field("reason", "not-sev-snp")
        line.field("report_data", hex: reportData)
        return line
    }
    let start = uk_rdtsc()
    switch SEV.attestationReport(reportData: reportData) {
    case .success(let result):
        let ticks = uk_rdtsc() &- start
        line.field("status", "ok")
        line.field("sev", Encryption.detected.mode.name)
        line.field("report_data", hex: reportData)
        line.field("us", TSCCalibration.microseconds(ticks: ticks, hz: hz))
        line.field("report", hex: result.report)
        if !result.certificates.isEmpty { line.field("certs", hex: result.certificates) }
    case .failure(let box):
        line.field("status", "unavailable")
        line.field("sev", Encryption.detected.mode.name)
        line.field("reason", box.failure.reason)
        line.field("report_data", hex: reportData)
    }
    return line
}

enum BootResult {
    case success(BootInfo)
    case failure(BootInfoError)
}

func readBootInfo(kind: UInt32, info: UInt64) -> BootResult {
    let kernel = PhysicalRange(start: uk_image_start(), end: uk_bss_end())
    // The first MiB holds the real-mode IVT, BIOS data and the PVH start info: never allocate it.
    let lowMemory = PhysicalRange(start: 0, end: 1 << 20)
    do throws(BootInfoError) {
        if kind == bootKindFirmware {
            let directory = try FirmwareConfig.directory()
            let table = try FirmwareConfig.contents(.e820, in: directory)
            let regions = try parse(table) { (raw) throws(BootInfoError) in try E820Table.parse(raw) }
            let commandLine = FirmwareCommandLine.text(try FirmwareConfig.contents(.commandLine, in: directory))
            // The kernel's own footer table: proof at boot that the image QEMU and the PSP read is intact,
            // and where the SNP secrets and CPUID pages are.
            let rom = PhysicalRange(start: uk_rom_start(), end: 1 << 32)
            let footer = try FirmwareFooter(image: physical(rom.start, Int(rom.length)))
            return .success(BootInfo(path: "firmware", regions: regions, commandLine: commandLine,
                                     reserved: [lowMemory, kernel], privateRanges: [rom],
                                     preValidated: PageValidation.preValidated(sections: footer.sections, image: rom)))
        }
        if kind == bootKindEFI {
            let handoff = try EFIHandoff(bytes: physical(info, EFIHandoff.size))
            let regions = try UEFIMemoryMap.parse(physical(handoff.memoryMapAddress, Int(handoff.memoryMapSize)),
                                                  descriptorSize: Int(handoff.descriptorSize))
            let commandLine = Array(physical(handoff.commandLineAddress, Int(min(handoff.commandLineLength, 4096))))
            let stub = PhysicalRange(start: handoff.stubBase, end: handoff.stubBase &+ handoff.stubSize)
            return .success(BootInfo(path: "efi", regions: regions, commandLine: commandLine, reserved: [lowMemory, kernel, stub]))
        }
        let start = try PVHStartInfo(bytes: physical(info, PVHStartInfo.size))
        let regions = try PVHMemoryMap.parse(physical(start.memoryMapAddress, Int(start.memoryMapEntries) * PVHMemoryMap.entrySize),
                                             entries: Int(start.memoryMapEntries))
        return .success(BootInfo(path: "pvh", regions: regions, commandLine: cString(at: start.commandLineAddress),
                                 reserved: [lowMemory, kernel]))
    } catch {
        return .failure(error)
    }
}

/// Physical memory, readable through the identity map.
func physical(_ address: UInt64, _ count: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(address)), count: address == 0 ? 0 : count)
}

/// A NUL-terminated string of at most 4 KiB.
func cString(at address: UInt64) -> [UInt8] {
    guard let base = UnsafePointer<UInt8>(bitPattern: UInt(address)) else { return [] }
    var bytes: [UInt8] = []
    while bytes.count < 4096 && base[bytes.count] != 0 { bytes.append(base[bytes.count]) }
    return bytes
}
