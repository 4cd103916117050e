import Foundation
import GuestImage
import HostOS
import HostProbe
import SEVABI
import Testing
@testable import Launch

/// The unikernel's firmware boot (its own firmware.fd with -bios, the command line in fw_cfg), planned by
/// the one launch builder as `cvm run BUNDLE --mode M` plans it and rendered for QEMU 11's detected
/// capabilities, against QEMU 11 in the Debian 13 root: with KVM missing it must stop only for KVM, and
/// with TCG standing in it must get through the firmware, fw_cfg and machine options to the point where a
/// confidential guest needs KVM. The image is the real one, built in this run, so QEMU parses its footer.
enum UnikernelToolchain {
    static let path = ProcessInfo.processInfo.environment["CVM_SWIFT_TOOLCHAIN"] ?? "/opt/swift/usr/bin"
    static var isAvailable: Bool { UnikernelBuild.missingTool(in: path) == nil }
}

@Suite("TrixieFirmwareBoot", .enabled(if: TrixieRoot.isAvailable, TrixieRoot.skipReason),
       .enabled(if: UnikernelToolchain.isAvailable, "needs the Swift toolchain's swiftc, clang and lld"))
struct TrixieFirmwareBootTests {
    struct BuildFailure: Error, CustomStringConvertible { var description: String }

    /// Unikernel/build.sh → a bundle with firmware.fd, once per test process.
    static let bundle: Result<URL, BuildFailure> = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cvmuk-trixie-\(getpid())")
        do {
            try UnikernelBuild.run(script: TrixieRoot.packageRoot.appendingPathComponent("Unikernel/build.sh").path, output: directory,
                                   linuxWorkloads: false, toolchain: UnikernelToolchain.path, timeout: 900)
            return .success(directory)
        } catch {
            return .failure(BuildFailure(description: "\(error)"))
        }
    }()

    static let modes: [ConfidentialMode] = [.sev, .sevES, .sevSNP]

    /// Plans `mode` for a bundle whose firmware.fd sits in the root's scratch, renders the argv for the
    /// root's QEMU and runs it there (with `-accel swap` when given).
    static func run(_ mode: ConfidentialMode, accelerator swap: String? = nil) throws -> (CommandOutput, [String]) {
        let root = try TrixieRoot.path()
        let built = try bundle.get()
        let capabilities = try #require(QEMUCapabilities.detect(using: ChrootRunner(root: root)), "no QEMU in \(root)")
        let scratch = try ChrootScratch(root: root)
        defer { scratch.remove() }
        let image = try scratch.write("firmware.fd", try Data(contentsOf: built.appendingPathComponent("firmware.fd")))
        let boot = BundleBoot(kernel: scratch.directory + "/kernel", efiKernel: scratch.directory + "/kernel.efi", firmwareImage: image,
                              initrd: nil, cmdline: "run=boot,noop attest=0", pvh: true, minimumMemoryMiB: 64)
        var options = LaunchOptions(name: "cvm-firmware-\(mode.rawValue)")
        options.mode = mode
        options.dryRun = true
        options.cbitpos = 51
        options.reducedPhysBits = 1
        options.vcpus = 2
        options.memoryMiB = 256
        options.console = .file(scratch.directory + "/console.log")
        options.qmpSocket = scratch.directory + "/qmp.sock"
        let plan = try LaunchBuilder(options: options).plan(.bundle(boot))
        #expect(plan.unikernelBoot == .firmware, "a confidential mode boots the unikernel's firmware.fd by default")
        var argv = try QEMUCommandLine.render(plan.spec, capabilities: capabilities)
        if let swap, let index = argv.firstIndex(of: "-accel") {
            argv[index + 1] = swap
        }
        let output = try #require(ChrootRunner(root: root).run(argv, timeout: 20), "chroot could not start QEMU")
        return (output, argv)
    }

    @Test("QEMU 11 accepts the firmware-boot argv for SEV, SEV-ES and SNP up to KVM initialisation", arguments: modes)
    func stopsOnlyForLackOfKVM(_ mode: ConfidentialMode) throws {
        let (output, argv) = try Self.run(mode)
        let bios = try #require(argv.firstIndex(of: "-bios"))
        #expect(argv[bios + 1].hasSuffix("/firmware.fd"))
        #expect(argv.contains("name=opt/org.cvmkit/cmdline,string=run=boot,,noop attest=0"))
        #expect(!argv.contains("-kernel") && !argv.joined(separator: " ").contains("pflash"))
        #expect(argv.contains { $0.hasPrefix(mode == .sevSNP ? "sev-snp-guest," : "sev-guest,") })
        #expect(QEMUVerdict.failedOnlyForLackOfKVM(output),
                "status \(output.status), timed out \(output.timedOut), stderr:\n\(output.stderr)\n\(QEMUCommandLine.shellQuoted(argv))")
    }

    /// With TCG in KVM's place QEMU 11 goes past the confidential-guest object: SNP stops when its memory
    /// backend needs private memory; SEV and SEV-ES load firmware.fd with -bios, take the fw_cfg file and
    /// build the machine, and stop when the confidential guest is not ready. An image whose footer QEMU
    /// could not use, or an option it did not know, would stop it with another line.
    @Test("QEMU 11 goes through the firmware-boot argv when TCG stands in for KVM", arguments: modes)
    func buildsTheMachineUnderTCG(_ mode: ConfidentialMode) throws {
        let (output, argv) = try Self.run(mode, accelerator: "tcg")
        let errors = output.stderr.split(separator: "\n").map(String.init).filter { !$0.contains("warning: TCG doesn't support") }
        let expected = mode == .sevSNP ? "cannot set up private guest memory for sev-snp-guest: KVM required"
                                       : "accelerator does not support confidential guest sev-guest"
        #expect(output.status != 0 && !output.timedOut)
        #expect(errors == ["qemu-system-x86_64: " + expected],
                "expected only '\(expected)', got:\n\(output.stderr)\n\(QEMUCommandLine.shellQuoted(argv))")
    }

    /// The check above can fail: an image that is not a multiple of 64 KiB is refused by QEMU's -bios
    /// loader under TCG before any confidential-guest step (SEV and SEV-ES, which get that far).
    @Test("QEMU 11 refuses a truncated firmware.fd, so the checks above can fail")
    func refusesATruncatedImage() throws {
        let root = try TrixieRoot.path()
        let built = try Self.bundle.get()
        let scratch = try ChrootScratch(root: root)
        defer { scratch.remove() }
        let whole = try Data(contentsOf: built.appendingPathComponent("firmware.fd"))
        let image = try scratch.write("firmware.fd", whole.prefix(whole.count - 4096))
        let argv = ["qemu-system-x86_64", "-accel", "tcg", "-M", "q35", "-m", "256", "-nodefaults", "-display", "none",
                    "-bios", image, "-object", "sev-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,policy=0x5",
                    "-machine", "confidential-guest-support=sev0"]
        let output = try #require(ChrootRunner(root: root).run(argv, timeout: 20))
        #expect(output.status != 0 && !output.timedOut)
        #expect(output.stderr.contains("could not load PC BIOS") && !output.stderr.contains("accelerator does not support confidential guest"),
                "\(output.stderr)")
    }
}
