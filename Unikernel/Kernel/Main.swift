import CPU

/// What the loader told the kernel: memory, command line, and what to keep away from the allocator.
struct BootInfo {
    var path: StaticString
    var regions: [MemoryRegion]
    var commandLine: [UInt8]
    var reserved: [PhysicalRange]
}

/// Boot kinds passed by Boot/boot.S (Boot/layout.h).
let bootKindPVH: UInt32 = 1
let bootKindEFI: UInt32 = 2

@_cdecl("kmain")
public func kmain(_ kind: UInt32, _ info: UInt64, _ entryTimestamp: UInt64) -> Never {
    Console.initialize()
    Interrupts.install()
    Memory.bootstrapHeap()

    let boot: BootInfo
    switch readBootInfo(kind: kind, info: info) {
    case let .success(value): boot = value
    case let .failure(error):
        var line = ResultLine("error")
        line.field("reason", "boot-info")
        line.field("detail", raw: Array(error.description.utf8))
        Console.write(line.bytes + [0x0a])
        Machine.exit(.panic)
    }
    Memory.initializeFrames(regions: boot.regions, reserved: boot.reserved)
    guard Memory.installPageTables(regions: boot.regions, encryptionBit: nil) else {
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
    do {
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
