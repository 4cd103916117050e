import Foundation
import Measurement
import Testing
@testable import TDXAttestation

/// The fixed RTMR1 events of the direct-boot prediction against a real TDVF's event log (go-tdx-guest's
/// CCEL, a GCE TD): the same event types, in the same register, with the same digests.
@Suite struct DirectBootEventTests {
    @Test func theFixedEventsAreTheRealTDVFs() throws {
        let log = try TDXEventLog(bytes: TDXFixture.bytes("ccel/ccel_data.dat"))
        let kernel = try MinimalBzImage.bytes(version: "6.12.0")
        let predicted = try TDRuntimeMeasurement.events(.init(kernel: kernel, initrd: nil, commandLine: "", memoryBytes: 512 << 20))
        let types: [UInt32: String] = [0x8000_0007: "EV_EFI_ACTION", 4: "EV_SEPARATOR"]
        var matched = 0
        for event in predicted where event.type != "EV_EFI_BOOT_SERVICES_APPLICATION" {
            let recorded = log.events.filter { $0.rtmr == event.rtmr && types[$0.type] == event.type }
                .filter { event.type == "EV_SEPARATOR" || String(decoding: $0.data, as: UTF8.self) == event.description }
            try #require(recorded.count == 1, "\(event.description): \(recorded.count) events in the real log")
            #expect(recorded[0].sha384.map { String(format: "%02x", $0) }.joined() == event.digest, "\(event.description)")
            matched += 1
        }
        #expect(matched == 4)
        // The order of the real log's RTMR1 actions: ReadyToBoot's action and separator before the loader,
        // ExitBootServices' two at the end, as predicted.
        let actions = log.events.filter { $0.rtmr == 1 && types[$0.type] != nil }.map { $0.type == 4 ? "separator" : String(decoding: $0.data, as: UTF8.self) }
        let ours = predicted.filter { $0.rtmr == 1 && $0.type != "EV_EFI_BOOT_SERVICES_APPLICATION" }.map { $0.type == "EV_SEPARATOR" ? "separator" : $0.description }
        #expect(actions == ours)
    }
}

/// A file that is both a bzImage (HdrS, boot protocol 2.15, kernel_version) and a PE32+ image.
enum MinimalBzImage {
    static func bytes(version: String, xloadflags: UInt16 = 0x2, initrdAddrMax: UInt32 = 0x7FFF_FFFF) throws -> [UInt8] {
        var image = [UInt8](repeating: 0, count: 0x2000)
        func put(_ at: Int, _ bytes: [UInt8]) { image.replaceSubrange(at..<(at + bytes.count), with: bytes) }
        func le(_ value: UInt64, _ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        put(0, [0x4D, 0x5A]); put(0x3C, le(0x80, 4))
        put(0x80, [0x50, 0x45, 0, 0]); put(0x86, le(1, 2)); put(0x94, le(240, 2))
        put(0x98, le(0x20B, 2)); put(0x98 + 60, le(0x400, 4)); put(0x98 + 108, le(16, 4))
        put(0x98 + 240 + 16, le(0x1C00, 4)); put(0x98 + 240 + 20, le(0x400, 4))
        put(0x1F1, [1]); put(0x202, Array("HdrS".utf8)); put(0x206, le(0x20F, 2))
        put(0x20E, le(0x300 - 0x200, 2)); put(0x300, Array(version.utf8) + [0])
        put(0x211, [0x01]); put(0x22C, le(UInt64(initrdAddrMax), 4)); put(0x236, le(UInt64(xloadflags), 2))
        return image
    }
}

/// QEMU's setup-header edits and OVMF's LoadOptions, from QEMU's x86_load_linux and edk2's
/// X86QemuLoadImageLib as docs/TDX.md cites them; the header offsets from Linux's own bootparam.h.
@Suite struct DirectBootInputTests {
    static func u32(_ image: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(image[at + $1]) << (8 * $1) } }
    static func u16(_ image: [UInt8], _ at: Int) -> UInt16 { UInt16(image[at]) | UInt16(image[at + 1]) << 8 }

    @Test func qemuEditsTheSetupHeaderAsX86LoadLinuxDoes() throws {
        let kernel = try MinimalBzImage.bytes(version: "6.12.0")
        let patched = try QEMUKernelPatch.patched(kernel, commandLine: "console=hvc0 vga=0x317", initrdSize: 4096, memoryBytes: 512 << 20)
        #expect(patched[0x210] == 0xB0)
        #expect(patched[0x211] == 0x81)
        #expect(Self.u16(patched, 0x224) == 0xFE00)
        #expect(Self.u32(patched, 0x228) == 0x20000)
        #expect(Self.u16(patched, 0x1FA) == 0x317)
        // Loadable above 4 GiB: the limit is the top of low memory less 0x20000 bytes of ACPI data.
        #expect(Self.u32(patched, 0x218) == (0x2000_0000 - 0x20000 - 4096) & ~0xFFF)
        #expect(Self.u32(patched, 0x21C) == 4096)
        let changed = patched.indices.filter { patched[$0] != kernel[$0] }
        #expect(changed.allSatisfy { (0x1FA..<0x22C).contains($0) }, "\(changed)")
        // Without XLF_CAN_BE_LOADED_ABOVE_4G the kernel's initrd_addr_max rules; 8 GiB of memory leaves 2 GiB low.
        let old = try QEMUKernelPatch.patched(try MinimalBzImage.bytes(version: "5.4", xloadflags: 0, initrdAddrMax: 0x37FF_FFFF),
                                              commandLine: "", initrdSize: 10_000, memoryBytes: 8 << 30)
        #expect(Self.u32(old, 0x218) == (0x37FF_FFFF - 10_000) & ~0xFFF)
        #expect(QEMUKernelPatch.below4GMemory(8 << 30) == 0x8000_0000)
        #expect(QEMUKernelPatch.below4GMemory(0xA000_0000) == 0xA000_0000)
        #expect(throws: QEMUKernelPatch.Failure.initrdTooLarge(size: 0x2000_0000, max: 0x2000_0000 - 0x20000)) {
            _ = try QEMUKernelPatch.patched(kernel, commandLine: "", initrdSize: 0x2000_0000, memoryBytes: 512 << 20)
        }
        #expect(throws: QEMUKernelPatch.Failure.badVGA("bogus")) { _ = try QEMUKernelPatch.patched(kernel, commandLine: "vga=bogus", initrdSize: nil, memoryBytes: 512 << 20) }
        #expect(throws: QEMUKernelPatch.Failure.self) { _ = try QEMUKernelPatch.patched(Array(kernel[0..<0x800]), commandLine: "", initrdSize: nil, memoryBytes: 512 << 20) }
    }

    @Test func loadOptionsAreUTF16WithTheInitrdOptionWhereTheReleasePutsIt() throws {
        func utf16(_ text: String) -> [UInt8] { Array(text.data(using: .utf16LittleEndian)!) + [0, 0] }
        #expect(TDRuntimeMeasurement.loadOptions(commandLine: "console=hvc0", hasInitrd: true, edk2Release: nil) == utf16("initrd=initrd console=hvc0"))
        #expect(TDRuntimeMeasurement.loadOptions(commandLine: "console=hvc0", hasInitrd: true, edk2Release: 202502) == utf16("console=hvc0 initrd=initrd"))
        #expect(TDRuntimeMeasurement.loadOptions(commandLine: "ä=1", hasInitrd: false, edk2Release: nil) == utf16("ä=1"))
        #expect(TDRuntimeMeasurement.loadOptions(commandLine: "", hasInitrd: false, edk2Release: nil) == nil)
    }

    @Test func releasesAndKernelVersionsChooseTheEvents() throws {
        let initrd = [UInt8](repeating: 7, count: 100)
        func events(_ version: String, _ release: Int?) throws -> [String] {
            try TDRuntimeMeasurement.events(.init(kernel: try MinimalBzImage.bytes(version: version), initrd: initrd, commandLine: "quiet",
                                                  edk2Release: release, memoryBytes: 1 << 30)).map { "\($0.rtmr):\($0.type)" }
        }
        let newest = try events("6.12.0-1-amd64", nil)
        #expect(newest == ["1:EV_EFI_BOOT_SERVICES_APPLICATION", "1:EV_EFI_ACTION", "1:EV_SEPARATOR", "2:EV_EVENT_TAG", "2:EV_EVENT_TAG",
                           "1:EV_EFI_ACTION", "1:EV_EFI_ACTION"])
        #expect(try events("6.12.0", 202408) == newest.filter { $0 != "1:EV_SEPARATOR" })
        #expect(try events("6.1.0-57-amd64", nil).allSatisfy { $0.hasPrefix("1:") })
        // A backport (or its absence) said outright wins over the version.
        func forced(_ version: String, _ measures: Bool) throws -> Int {
            try TDRuntimeMeasurement.events(.init(kernel: try MinimalBzImage.bytes(version: version), initrd: initrd, commandLine: "quiet",
                                                  memoryBytes: 1 << 30, stubMeasuresRTMR2: measures)).filter { $0.rtmr == 2 }.count
        }
        #expect(try forced("5.14.0-427.el9.x86_64", true) == 2)
        #expect(try forced("6.12.0", false) == 0)
        #expect(TDRuntimeMeasurement.linuxVersion(ofBzImage: try MinimalBzImage.bytes(version: "6.9.0-rc1")) ?? (0, 0) == (6, 9))
    }

    /// struct setup_header's offsets and XLF_CAN_BE_LOADED_ABOVE_4G from the 6.12 uapi asm/bootparam.h, by gcc.
    @Test(.enabled(if: bootparamInclude != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc"),
                   "needs gcc and linux-headers-6.12.*-common (scripts/install-deps)"))
    func theOffsetsAreLinuxs() throws {
        let include = try #require(Self.bootparamInclude)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-bootparam-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = """
        #include <stdio.h>
        #include <stddef.h>
        #include <asm/bootparam.h>
        #define F(x) (unsigned)(0x1f1 + offsetof(struct setup_header, x) - offsetof(struct setup_header, setup_sects))
        int main(void) {
            printf("%x %x %x %x %x %x %x %x %x %x %x %x %x\\n", F(vid_mode), F(header), F(version), F(kernel_version),
                   F(type_of_loader), F(loadflags), F(ramdisk_image), F(ramdisk_size), F(heap_end_ptr), F(cmd_line_ptr),
                   F(initrd_addr_max), F(xloadflags), XLF_CAN_BE_LOADED_ABOVE_4G);
            return 0;
        }
        """
        try Data(source.utf8).write(to: directory.appendingPathComponent("p.c"))
        let gcc = Process()
        gcc.executableURL = URL(fileURLWithPath: "/usr/bin/gcc")
        gcc.arguments = ["-I", include + "/arch/x86/include/uapi", "-o",
                         directory.appendingPathComponent("p").path, directory.appendingPathComponent("p.c").path]
        try gcc.run()
        gcc.waitUntilExit()
        try #require(gcc.terminationStatus == 0)
        let run = Process()
        let pipe = Pipe()
        run.executableURL = directory.appendingPathComponent("p")
        run.standardOutput = pipe
        try run.run()
        let printed = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        #expect(printed == "1fa 202 206 20e 210 211 218 21c 224 228 22c 236 2\n")
    }

    static let bootparamInclude: String? = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/src")) ?? []
        return names.filter { $0.hasPrefix("linux-headers-") && $0.hasSuffix("-common") }.sorted().reversed()
            .map { "/usr/src/\($0)" }.first { FileManager.default.fileExists(atPath: $0 + "/arch/x86/include/uapi/asm/bootparam.h") }
    }()
}
