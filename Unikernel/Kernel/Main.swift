import CPU

/// What the loader told the kernel: memory, command line, and what to keep away from the allocator.
struct BootInfo {
    var path: StaticString
    var regions: [MemoryRegion]
    var commandLine: [UInt8]
    var reserved: [PhysicalRange]
    /// Ranges outside the memory map that must stay private under SEV: the ROM the firmware boot runs from.
    var privateRanges: [PhysicalRange] = []
}

/// Boot kinds passed by Boot/boot.S (Boot/layout.h).
let bootKindPVH: UInt32 = 1
let bootKindEFI: UInt32 = 2
let bootKindFirmware: UInt32 = 3

@_cdecl("kmain")
public func kmain(_ kind: UInt32, _ info: UInt64, _ entryTimestamp: UInt64) -> Never {
    Console.initialize()
    Interrupts.install()
    Memory.bootstrapHeap()
    Encryption.detect()

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
    Memory.initializeFrames(regions: boot.regions, reserved: boot.reserved)
    guard Memory.installPageTables(regions: boot.regions, privateRanges: boot.reserved + boot.privateRanges,
                                   encryptionBit: Encryption.detected.encryptionBit) else {
        Console.write("cvmuk error reason=page-tables\n")
        Machine.exit(.outOfMemory)
    }
    let memoryReady = uk_rdtsc()
    let (hz, source) = Timekeeping.calibrate()
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

    let options: BootOptions
    do {
        options = try BootOptions.parse(boot.commandLine)
    } catch {
        var failure = ResultLine("error")
        failure.field("reason", "command-line")
        failure.field("token", raw: error.token)
        platform.emit(failure)
        Machine.exit(.badCommandLine)
    }
    if options.attest {
        // The report comes from the PSP through an SNP guest request, which this kernel does not send yet:
        // say so, with the mode it detected, so that `cvm run --attest` can tell the user why there is none.
        var attestation = ResultLine("attestation")
        attestation.field("status", "unavailable")
        attestation.field("sev", Encryption.detected.mode.name)
        attestation.field("reason", Encryption.detected.mode == .sevSNP ? "guest-request-not-in-kernel" : "not-sev-snp")
        attestation.field("report_data", hex: AttestationBinding.reportData(nonce: options.attestNonce, commandLine: boot.commandLine))
        platform.emit(attestation)
    }
    var runner = WorkloadRunner(platform: platform)
    Machine.exit(runner.run(options))
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
            _ = try FirmwareFooter(image: physical(rom.start, Int(rom.length)))
            return .success(BootInfo(path: "firmware", regions: regions, commandLine: commandLine,
                                     reserved: [lowMemory, kernel], privateRanges: [rom]))
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
