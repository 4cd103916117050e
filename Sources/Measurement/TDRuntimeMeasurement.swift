import Crypto
import SEVABI

/// RTMR1 and RTMR2 of a TD that QEMU boots directly (-kernel, -initrd, -append) through a TDVF, predicted
/// from the events the TDVF and the Linux EFI stub log (each RTMR = SHA-384(RTMR ‖ digest) from zeros):
///
/// - RTMR1 (PCR 2-6): the kernel as EV_EFI_BOOT_SERVICES_APPLICATION, digest its Authenticode SHA-384;
///   "Calling EFI Application from Boot Option" (ReadyToBoot); one EV_SEPARATOR (edk2 ≥ 202411; before,
///   both separators went to RTMR0); "Exit Boot Services Invocation"; "Exit Boot Services Returned with
///   Success".
/// - RTMR2 (PCR 9), the Linux EFI stub (≥ 6.9 measures through the CC measurement protocol): the
///   LoadOptions OVMF hands over (UTF-16LE with its NUL; with an initrd "initrd=initrd " before the
///   command line from edk2 202508, " initrd=initrd" after it before that), then the initrd's SHA-384.
///   An empty command line without an initrd gives no LoadOptions event.
///
/// The kernel that is hashed is the one the firmware loads: QEMU's setup sectors, which QEMU edits
/// before it hands them over (loader type, heap, command line address, initrd address and size), and
/// the rest of the file; `QEMUKernelPatch` makes those edits. What each fact was checked against is in
/// docs/TDX.md; no TD has measured a kernel that cvm predicted.
public enum TDRuntimeMeasurement {
    public struct Event: Sendable, Equatable, Codable {
        public let rtmr: Int
        public let type: String
        public let description: String
        public let digest: String
    }

    public struct Inputs: Sendable {
        public var kernel: [UInt8]
        public var initrd: [UInt8]?
        public var commandLine: String
        /// The edk2 release of the TDVF as YYYYMM (e.g. 202411); nil for the newest behaviour.
        public var edk2Release: Int?
        /// Guest memory in bytes (where QEMU puts the initrd, which the kernel's setup header records).
        public var memoryBytes: UInt64
        /// Hash the kernel file as given rather than QEMU's edited setup header (for a QEMU and TDVF that
        /// load QEMU's unedited etc/boot/kernel).
        public var unpatchedKernel: Bool
        /// Whether the kernel's EFI stub measures into RTMR2; nil: from its version (≥ 6.9). For a
        /// distribution kernel with the CC-measurement change backported, say true.
        public var stubMeasuresRTMR2: Bool?

        public init(kernel: [UInt8], initrd: [UInt8]?, commandLine: String, edk2Release: Int? = nil,
                    memoryBytes: UInt64, unpatchedKernel: Bool = false, stubMeasuresRTMR2: Bool? = nil) {
            self.kernel = kernel
            self.initrd = initrd
            self.commandLine = commandLine
            self.edk2Release = edk2Release
            self.memoryBytes = memoryBytes
            self.unpatchedKernel = unpatchedKernel
            self.stubMeasuresRTMR2 = stubMeasuresRTMR2
        }
    }

    static let callingApplication = "Calling EFI Application from Boot Option"
    static let exitBootServices = "Exit Boot Services Invocation"
    static let exitBootServicesReturned = "Exit Boot Services Returned with Success"
    /// edk2 commit efaf8931bb ("Fix the SeparatorEvent issue in RTMRs"), first in edk2-stable202411.
    static let separatorInRTMR1Since = 202411
    /// edk2 commit a2ac0fea4999: "initrd=initrd " before the command line, first in edk2-stable202508.
    static let initrdOptionFirstSince = 202508

    /// The LoadOptions bytes OVMF's QEMU kernel loader gives the kernel; nil when it gives none.
    public static func loadOptions(commandLine: String, hasInitrd: Bool, edk2Release: Int?) -> [UInt8]? {
        var text = commandLine
        if hasInitrd {
            text = (edk2Release ?? .max) >= initrdOptionFirstSince ? "initrd=initrd " + commandLine : commandLine + " initrd=initrd"
        }
        guard !text.isEmpty else { return nil }
        return text.utf16.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8($0 >> 8)] } + [0, 0]
    }

    public static func events(_ inputs: Inputs) throws -> [Event] {
        let image = inputs.unpatchedKernel
            ? inputs.kernel
            : try QEMUKernelPatch.patched(inputs.kernel, commandLine: inputs.commandLine,
                                          initrdSize: inputs.initrd.map { $0.count }, memoryBytes: inputs.memoryBytes)
        func sha(_ bytes: [UInt8]) -> String { Array(SHA384.hash(data: bytes)).hexString }
        var events = [Event(rtmr: 1, type: "EV_EFI_BOOT_SERVICES_APPLICATION", description: "kernel (Authenticode SHA-384)",
                            digest: try Authenticode.sha384(image).hexString),
                      Event(rtmr: 1, type: "EV_EFI_ACTION", description: callingApplication, digest: sha(Array(callingApplication.utf8)))]
        if (inputs.edk2Release ?? .max) >= separatorInRTMR1Since {
            events.append(Event(rtmr: 1, type: "EV_SEPARATOR", description: "00000000", digest: sha([0, 0, 0, 0])))
        }
        let stubMeasures = inputs.stubMeasuresRTMR2 ?? linuxVersion(ofBzImage: inputs.kernel).map { $0 >= (6, 9) } ?? true
        if stubMeasures, let options = loadOptions(commandLine: inputs.commandLine, hasInitrd: inputs.initrd != nil, edk2Release: inputs.edk2Release) {
            events.append(Event(rtmr: 2, type: "EV_EVENT_TAG", description: "LOADED_IMAGE::LoadOptions", digest: sha(options)))
        }
        if stubMeasures, let initrd = inputs.initrd {
            events.append(Event(rtmr: 2, type: "EV_EVENT_TAG", description: "Linux initrd", digest: sha(initrd)))
        }
        events.append(Event(rtmr: 1, type: "EV_EFI_ACTION", description: exitBootServices, digest: sha(Array(exitBootServices.utf8))))
        events.append(Event(rtmr: 1, type: "EV_EFI_ACTION", description: exitBootServicesReturned, digest: sha(Array(exitBootServicesReturned.utf8))))
        return events
    }

    /// The Linux version a bzImage names in its setup header (kernel_version at 0x20E points, less 0x200,
    /// at a string such as "6.1.0-57-amd64 (…) #1 SMP …"); nil when there is none.
    public static func linuxVersion(ofBzImage kernel: [UInt8]) -> (Int, Int)? {
        guard kernel.count > 0x210, kernel[0x202..<0x206].elementsEqual(Array("HdrS".utf8)) else { return nil }
        let offset = Int(kernel[0x20E]) | Int(kernel[0x20F]) << 8
        guard offset > 0, offset + 0x200 < kernel.count else { return nil }
        let text = kernel[(offset + 0x200)...].prefix(64).prefix { $0 != 0 }
        let numbers = String(decoding: text, as: UTF8.self).split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return numbers.count == 2 ? (numbers[0], numbers[1]) : nil
    }

    /// RTMR0-3 after `events`, each extended from 48 zero bytes.
    public static func replay(_ events: [Event]) -> [[UInt8]] {
        var registers = [[UInt8]](repeating: [UInt8](repeating: 0, count: 48), count: 4)
        for event in events {
            // The digests are the hex `events` wrote.
            let digest = (try? [UInt8](hex: event.digest)) ?? []
            registers[event.rtmr] = Array(SHA384.hash(data: registers[event.rtmr] + digest))
        }
        return registers
    }
}

/// The edits QEMU's x86_load_linux makes to a bzImage's setup header before it hands the setup sectors
/// to the firmware over fw_cfg (boot protocol offsets from Documentation/arch/x86/boot.rst): loader type
/// 0xB0, CAN_USE_HEAP and heap_end_ptr, cmd_line_ptr, vid_mode for a vga= argument, and for an initrd
/// ramdisk_image (the highest 4 KiB-aligned address below initrd_max, itself below the memory under
/// 4 GiB less the 0x20000 bytes QEMU keeps for ACPI data on q35) and ramdisk_size.
public enum QEMUKernelPatch {
    public enum Failure: Error, Equatable, CustomStringConvertible, Sendable {
        case notBzImage(String)
        case initrdTooLarge(size: Int, max: UInt32)
        case badVGA(String)

        public var description: String {
            switch self {
            case .notBzImage(let why): return "not a Linux bzImage QEMU can boot: \(why)"
            case let .initrdTooLarge(size, max): return "initrd of \(size) bytes does not fit below QEMU's initrd limit 0x\(String(max, radix: 16))"
            case .badVGA(let value): return "QEMU refuses the vga= argument '\(value)'"
            }
        }
    }

    /// What QEMU keeps for ACPI data below the top of low memory on q35 (QEMU 7.2 and 11.1 alike).
    public static let acpiDataSize: UInt64 = 0x20000
    static let canBeLoadedAbove4G: UInt16 = 1 << 1

    /// Memory below 4 GiB on a q35 machine of `memoryBytes`: all of it up to 2.75 GiB, else 2 GiB.
    public static func below4GMemory(_ memoryBytes: UInt64) -> UInt64 {
        let lowmem: UInt64 = memoryBytes >= 0xB000_0000 ? 0x8000_0000 : 0xB000_0000
        return memoryBytes >= lowmem ? lowmem : memoryBytes
    }

    public static func patched(_ kernel: [UInt8], commandLine: String, initrdSize: Int?, memoryBytes: UInt64) throws -> [UInt8] {
        guard kernel.count >= 0x1000 else { throw Failure.notBzImage("\(kernel.count) bytes is too short") }
        func u16(_ at: Int) -> UInt16 { UInt16(kernel[at]) | UInt16(kernel[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
        guard u32(0x202) == 0x5372_6448 else { throw Failure.notBzImage("no \"HdrS\" setup header") }
        let protocolVersion = u16(0x206)
        var image = kernel
        func put16(_ at: Int, _ value: UInt16) { image[at] = UInt8(value & 0xFF); image[at + 1] = UInt8(value >> 8) }
        func put32(_ at: Int, _ value: UInt32) { put16(at, UInt16(value & 0xFFFF)); put16(at + 2, UInt16(value >> 16)) }
        let loadedHigh = protocolVersion >= 0x200 && kernel[0x211] & 0x01 != 0
        let (realAddress, commandLineAddress): (UInt32, UInt32) = !loadedHigh || protocolVersion < 0x202
            ? (0x90000, 0x9A000 - UInt32((commandLine.utf8.count + 16) & ~15)) : (0x10000, 0x20000)
        var initrdMax: UInt32
        if protocolVersion >= 0x20C && u16(0x236) & canBeLoadedAbove4G != 0 {
            initrdMax = .max
        } else if protocolVersion >= 0x203 {
            initrdMax = u32(0x22C)
        } else {
            initrdMax = 0x37FF_FFFF
        }
        let below4G = below4GMemory(memoryBytes)
        guard below4G > acpiDataSize else { throw Failure.notBzImage("\(memoryBytes) bytes of memory leave no room below the ACPI data") }
        // Below the ACPI data: QEMU 7.2 and 11.1 place a 1-byte and a 4096-byte initrd at the same page
        // just under it, so the limit is the first byte of the ACPI data itself.
        if UInt64(initrdMax) > below4G - acpiDataSize { initrdMax = UInt32(below4G - acpiDataSize) }
        if protocolVersion >= 0x202 {
            put32(0x228, commandLineAddress)
        } else {
            put16(0x20, 0xA33F)
            put16(0x22, UInt16(truncatingIfNeeded: commandLineAddress - realAddress))
        }
        if let range = commandLine.range(of: "vga=") {
            let value = commandLine[range.upperBound...].prefix { $0 != " " }
            let mode: UInt16
            if value.hasPrefix("normal") { mode = 0xFFFF } else if value.hasPrefix("ext") { mode = 0xFFFE } else if value.hasPrefix("ask") { mode = 0xFFFD } else {
                let text = String(value)
                let parsed = text.hasPrefix("0x") || text.hasPrefix("0X") ? UInt32(text.dropFirst(2), radix: 16)
                    : text.count > 1 && text.hasPrefix("0") ? UInt32(text.dropFirst(), radix: 8) : UInt32(text)
                guard let parsed else { throw Failure.badVGA(text) }
                mode = UInt16(truncatingIfNeeded: parsed)
            }
            put16(0x1FA, mode)
        }
        if protocolVersion >= 0x200 { image[0x210] = 0xB0 }
        if protocolVersion >= 0x201 {
            image[0x211] |= 0x80
            put16(0x224, UInt16(truncatingIfNeeded: commandLineAddress - realAddress - 0x200))
        }
        if let initrdSize {
            guard protocolVersion >= 0x200 else { throw Failure.notBzImage("boot protocol \(String(protocolVersion, radix: 16)) is too old for an initrd") }
            guard UInt64(initrdSize) < UInt64(initrdMax) else { throw Failure.initrdTooLarge(size: initrdSize, max: initrdMax) }
            put32(0x218, (initrdMax - UInt32(initrdSize)) & ~UInt32(4095))
            put32(0x21C, UInt32(initrdSize))
        }
        return image
    }
}
