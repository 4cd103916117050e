import Foundation
import Launch
import Testing

/// Test kernels from testkernels/ (a few lines of assembly or C), built with the toolchain's clang,
/// ld.lld and lld-link; each prints a line on COM1 and exits through isa-debug-exit with its code.
enum TestKernels {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let toolchain = ProcessInfo.processInfo.environment["CVM_SWIFT_TOOLCHAIN"] ?? "/opt/swift/usr/bin"
    static var available: Bool {
        ["clang", "ld.lld", "lld-link"].allSatisfy { FileManager.default.isExecutableFile(atPath: "\(toolchain)/\($0)") }
    }
    static let skipReason: Comment = "clang, ld.lld and lld-link from /opt/swift/usr/bin (or $CVM_SWIFT_TOOLCHAIN) are needed to build the test kernels; skipped"

    /// Builds one kernel into a fresh directory, with an RDSEED instruction that never runs if asked;
    /// returns (directory, file).
    static func build(_ kind: String, message: String, code: Int, rdseed: Bool = false) throws -> (URL, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-testkernel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [repository.appendingPathComponent("testkernels/build.sh").path, dir.path, kind, message, String(code)] + (rdseed ? ["rdseed"] : [])
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "testkernels/build.sh \(kind) exited \(process.terminationStatus)")
        let file = ["multiboot": "multiboot.elf", "pvh": "pvh.elf", "efi": "efi.efi", "bootsector": "disk.img"][kind] ?? kind
        return (dir, dir.appendingPathComponent(file).path)
    }
}

@Suite(.serialized, .enabled(if: TestKernels.available, TestKernels.skipReason))
struct KernelPresetCLITests {
    /// Boots a test kernel through `cvm run` under TCG: the line it prints, and its exit code as cvm's.
    @Test(arguments: [("multiboot", 5, true), ("multiboot", 9, false), ("pvh", 6, true), ("pvh", 11, false)])
    func aTestKernelBootsAndItsExitCodeReachesTheHost(kind: String, code: Int, explicit: Bool) throws {
        let message = "hello from the \(kind) test kernel, code \(code)"
        let (dir, kernel) = try TestKernels.build(kind, message: message, code: code)
        defer { try? FileManager.default.removeItem(at: dir) }
        let protocolOption = explicit ? ["--boot-protocol", kind] : []
        let run = try CLIRun.cvm(["run", "--kernel", kernel] + protocolOption + ["--accel", "tcg", "--timeout", "60"])
        #expect(run.status == Int32(code), "\(run.stderr)")
        #expect(run.stdout.contains(message), "the kernel's line: \(run.stdout)")
        #expect(run.stderr.contains("guest exited with code \(code)"))
        // Auto-detection says what it found; an explicit protocol needs no notice.
        #expect(run.stderr.contains("boot protocol \(kind) (detected") == !explicit, "\(run.stderr)")
        #expect(!run.stderr.contains("not entered by the expected loader"))
    }

    /// The detector (Launch) on the files the toolchain really produced.
    @Test func theBuiltTestKernelsAreDetectedAsTheirProtocols() throws {
        var cleanup: [URL] = []
        defer { cleanup.forEach { try? FileManager.default.removeItem(at: $0) } }
        var paths: [String: String] = [:]
        for kind in ["multiboot", "pvh", "efi"] {
            let (dir, file) = try TestKernels.build(kind, message: "x", code: 1)
            cleanup.append(dir)
            paths[kind] = file
        }
        let multiboot = try KernelImageDetector.inspect(path: paths["multiboot"] ?? "")
        #expect(multiboot.detected == .multiboot && multiboot.elfClass == 32)
        let pvh = try KernelImageDetector.inspect(path: paths["pvh"] ?? "")
        // pvh.S points the note at its ELF entry symbol: e_entry (bytes 24-31 of an ELF64 header).
        let header = try #require(FileManager.default.contents(atPath: paths["pvh"] ?? ""))
        let entry = header[24..<32].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(pvh.detected == .pvh && pvh.elfClass == 64 && UInt64(pvh.pvhEntry ?? 0) == entry)
        #expect(try KernelImageDetector.inspect(path: paths["efi"] ?? "").detected == .efi)
    }

    @Test func anEFIApplicationBootsThroughOVMFUnderTCG() throws {
        let (dir, kernel) = try TestKernels.build("efi", message: "hello from the efi test kernel", code: 3)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try CLIRun.cvm("run", "--kernel", kernel, "--accel", "tcg", "--timeout", "180")
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stdout.contains("hello from the efi test kernel"))
        #expect(run.stderr.contains("boot protocol efi"))
    }

    @Test(arguments: ["multiboot", "pvh"])
    func confidentialModesAreRefusedForPVHAndMultibootWithTheReason(kind: String) throws {
        let (dir, kernel) = try TestKernels.build(kind, message: "never printed", code: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        for mode in ["sev", "sev-es", "sev-snp"] {
            for extra in [[], ["--dry-run"], ["--boot-protocol", kind]] {
                let run = try CLIRun.cvm(["run", "--kernel", kernel, "--mode", mode] + extra)
                #expect(run.status == 2, "\(mode) \(extra): \(run.stderr)")
                #expect(run.stderr.contains("cvm: \(mode) refused: a \(kind) kernel starts from QEMU's own loader with no firmware to carry SEV"), "\(run.stderr)")
                #expect(run.stdout.isEmpty)
            }
        }
    }

    @Test func aDryRunOfAnEFIKernelInSNPModeUsesOVMFAndSevSnpGuest() throws {
        let (dir, kernel) = try TestKernels.build("efi", message: "x", code: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try CLIRun.cvm("run", "--kernel", kernel, "--mode", "sev-snp", "--cbitpos", "51", "--dry-run")
        #expect(run.status == 0, "\(run.stderr)")
        let words = run.stdout.split(separator: " ").map(String.init)
        let bios = words.firstIndex(of: "-bios").map { words[$0 + 1] }
        #expect(bios?.lowercased().contains("ovmf") == true, "\(run.stdout)")
        #expect(run.stdout.contains("sev-snp-guest,id=sev0,cbitpos=51"))
        #expect(words.firstIndex(of: "-kernel").map { words[$0 + 1] } == kernel)
    }

    @Test func theWrongProtocolForAFileIsBadInput() throws {
        let (dir, kernel) = try TestKernels.build("multiboot", message: "x", code: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pvh = try CLIRun.cvm("run", "--kernel", kernel, "--boot-protocol", "pvh", "--dry-run")
        #expect(pvh.status == 2)
        #expect(pvh.stderr.contains("no ELF note XEN_ELFNOTE_PHYS32_ENTRY"))
        let ovmf = try CLIRun.cvm("run", "--kernel", kernel, "--firmware", "ovmf", "--dry-run")
        #expect(ovmf.status == 2)
        #expect(ovmf.stderr.contains("only SeaBIOS runs"))
        let garbage = dir.appendingPathComponent("garbage.bin")
        try Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: garbage)
        let bad = try CLIRun.cvm("run", "--kernel", garbage.path, "--boot-protocol", "efi", "--dry-run")
        #expect(bad.status == 2)
        #expect(bad.stderr.hasPrefix("cvm: ") && bad.stderr.contains("not a kernel QEMU can boot"))
    }

    @Test func presetListPrintsTheTable() throws {
        let run = try CLIRun.cvm("run", "--preset", "list")
        #expect(run.status == 0)
        for preset in ["unikraft", "hermit", "nanos", "osv"] { #expect(run.stdout.contains("\n\(preset) ")) }
        #expect(run.stdout.contains("sev-snp"))
        #expect(run.stdout.contains("RDSEED"))
    }

    @Test func unikraftUnderTCGWarnsAboutRDSEEDWhenThisQEMUsTCGLacksIt() throws {
        let (dir, kernel) = try TestKernels.build("multiboot", message: "unikraft stand-in", code: 4, rdseed: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Whether this QEMU's TCG lacks RDSEED, from the probe LaunchTests checks against QEMU's own warning.
        let lacksRDSEED = try CPUFeatureProbe.offered(["rdseed"], cpuModel: "max", accelerator: .tcg, machine: "pc")["rdseed"] == .some(false)
        // The same kernel without the instruction needs no RDSEED, so it gets no notice.
        let (plainDir, plainKernel) = try TestKernels.build("multiboot", message: "unikraft stand-in", code: 4)
        defer { try? FileManager.default.removeItem(at: plainDir) }
        let plain = try CLIRun.cvm("run", "--preset", "unikraft", "--kernel", plainKernel, "--accel", "tcg", "--dry-run")
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(!plain.stderr.contains("RDSEED"), "\(plain.stderr)")

        let dry = try CLIRun.cvm("run", "--preset", "unikraft", "--kernel", kernel, "--accel", "tcg", "--dry-run")
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("-machine pc ") && dry.stdout.contains("-cpu max ") && dry.stdout.contains("-m 64M "))
        #expect(dry.stderr.contains("offers no RDSEED") == lacksRDSEED, "\(dry.stderr)")
        if lacksRDSEED {
            #expect(dry.stderr.contains("--accel kvm") && dry.stderr.contains("random.seed="))
            // The notice comes before the launch, and the launch itself still runs.
            let run = try CLIRun.cvm("run", "--preset", "unikraft", "--kernel", kernel, "--accel", "tcg", "--timeout", "60")
            #expect(run.status == 4)
            let notice = try #require(run.stderr.range(of: "offers no RDSEED"))
            let exit = try #require(run.stderr.range(of: "guest exited with code 4"))
            #expect(notice.lowerBound < exit.lowerBound)
        }
        // Under KVM the preset takes the host CPU and does not probe TCG.
        let kvm = try CLIRun.cvm("run", "--preset", "unikraft", "--kernel", kernel, "--accel", "kvm", "--dry-run")
        #expect(kvm.stdout.contains("-cpu host,+x2apic,-pmu "))
        #expect(!kvm.stderr.contains("RDSEED"))
        // Unikraft cannot be confidential.
        let sev = try CLIRun.cvm("run", "--preset", "unikraft", "--kernel", kernel, "--mode", "sev", "--dry-run")
        #expect(sev.status == 2)
        #expect(sev.stderr.contains("sev refused for unikraft"))
    }

    /// A Unikraft image whose init fails prints lib/ukboot's line and powers off cleanly (exit code 0):
    /// under its preset that is the guest's fatal error, exit 125 with the line named.
    @Test func aUnikraftInitFailureIsAFatalErrorUnderItsPreset() throws {
        let line = "[    0.104123] ERR:  [libukboot] <boot.c @  280> Init function at 0x10a0b0 returned error -95"
        let (dir, kernel) = try TestKernels.build("multiboot", message: line, code: 0)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try CLIRun.cvm("run", "--preset", "unikraft", "--kernel", kernel, "--accel", "tcg", "--timeout", "60")
        #expect(run.status == 125, "\(run.stderr)")
        #expect(run.stderr.contains("guest kernel reported a fatal error (Init function at 0x10a0b0 returned error -95)"), "\(run.stderr)")
        // Without the preset, cvm knows nothing of Unikraft: the guest's clean power-off is its answer.
        let plain = try CLIRun.cvm("run", "--kernel", kernel, "--accel", "tcg", "--timeout", "60")
        #expect(plain.status == 0, "\(plain.stderr)")
    }

    /// A disk whose boot sector prints and exits boots through SeaBIOS plainly and with the disk presets.
    @Test(arguments: [[], ["--preset", "osv"], ["--preset", "nanos"]])
    func aDiskBootsThroughSeaBIOS(preset: [String]) throws {
        let (dir, disk) = try TestKernels.build("bootsector", message: "hello from the boot sector", code: 7)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try CLIRun.cvm(["run", "--disk", disk, "--accel", "tcg", "--timeout", "60"] + preset)
        #expect(run.status == 7, "\(run.stderr)")
        #expect(run.stdout.contains("hello from the boot sector"))
    }

    @Test func diskPresetsRefuseWhatTheirGuestsCannotDo() throws {
        let (dir, disk) = try TestKernels.build("bootsector", message: "x", code: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        let osv = try CLIRun.cvm("run", "--preset", "osv", "--disk", disk, "--mode", "sev", "--dry-run")
        #expect(osv.status == 2)
        #expect(osv.stderr.contains("sev refused for osv") && osv.stderr.contains("no UEFI"))
        let snp = try CLIRun.cvm("run", "--preset", "nanos", "--disk", disk, "--mode", "sev-snp", "--dry-run")
        #expect(snp.status == 2)
        #expect(snp.stderr.contains("sev-snp refused for nanos"))
        let sev = try CLIRun.cvm("run", "--preset", "nanos", "--disk", disk, "--mode", "sev", "--cbitpos", "51", "--dry-run")
        #expect(sev.status == 0, "\(sev.stderr)")
        #expect(sev.stdout.contains("sev-guest,id=sev0") && sev.stdout.contains("if=pflash"))
        #expect(sev.stdout.contains("virtio-scsi-pci,id=scsi0,iommu_platform=on"))
        #expect(sev.stderr.contains("not the disk"))
        let kernelForDisk = try CLIRun.cvm("run", "--preset", "osv", "--kernel", disk, "--dry-run")
        #expect(kernelForDisk.status == 2)
        #expect(kernelForDisk.stderr.contains("give --disk"))
    }

    @Test func libvirtRendersProtocolKernelsAsOSKernel() throws {
        let (dir, kernel) = try TestKernels.build("pvh", message: "x", code: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try CLIRun.cvm("run", "--kernel", kernel, "--backend", "libvirt", "--dry-run")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("<kernel>\(kernel)</kernel>"))
        #expect(!run.stdout.contains("<loader"))
    }
}
