import Foundation
import Testing
import SEVABI
import HostProbe
@testable import Launch

/// The unikernel's three boot paths through the one launch builder: its own firmware.fd with -bios and
/// the command line in fw_cfg, its PVH kernel from SeaBIOS, its EFI application from OVMF.
struct FirmwareBootLaunchTests {
    static let bundle = BundleBoot(kernel: "/b/kernel", efiKernel: "/b/kernel.efi", firmwareImage: "/b/firmware.fd", initrd: nil,
                                   cmdline: "run=boot,stream stream.size=4M", pvh: true, minimumMemoryMiB: 64)

    func plan(_ mode: ConfidentialMode, boot: UnikernelBoot? = nil, firmware: FirmwareRequest = .auto,
              bundle: BundleBoot = Self.bundle) throws -> LaunchPlan {
        var options = LaunchOptions(name: "t")
        options.mode = mode
        options.unikernelBoot = boot
        options.firmware = firmware
        options.dryRun = true
        options.cbitpos = 51
        return try LaunchBuilder(options: options).plan(.bundle(bundle))
    }

    @Test(arguments: [ConfidentialMode.sev, .sevES, .sevSNP])
    func confidentialModesBootTheFirmwareImageByDefault(_ mode: ConfidentialMode) throws {
        let plan = try plan(mode)
        #expect(plan.unikernelBoot == .firmware)
        #expect(plan.bootLabel == "firmware.fd")
        let argv = try QEMUCommandLine.render(plan.spec)
        let bios = try #require(argv.firstIndex(of: "-bios"))
        #expect(argv[bios + 1] == "/b/firmware.fd")
        // Commas in the command line are doubled for QEMU's option parser.
        #expect(argv.contains("name=opt/org.cvmkit/cmdline,string=run=boot,,stream stream.size=4M"))
        #expect(!argv.contains("-kernel") && !argv.contains("-append") && !argv.joined(separator: " ").contains("pflash"))
        #expect(argv.contains { $0.hasPrefix(mode == .sevSNP ? "sev-snp-guest," : "sev-guest,") && !$0.contains("kernel-hashes") })
    }

    @Test func theLibvirtDomainLoadsTheImageAsROMAndPassesTheCommandLineThroughFwCfg() throws {
        // libvirt 9.0's schema has no sev-snp launchSecurity: SNP is rendered, SEV is validated.
        for mode in [ConfidentialMode.none, .sev, .sevSNP] {
            var spec = try plan(mode, boot: .firmware).spec
            spec.accelerator = mode.isConfidential ? .kvm : .tcg
            let xml = try LibvirtDomainXML.render(spec)
            #expect(xml.contains("<loader readonly='yes'") && xml.contains("type='rom'>/b/firmware.fd</loader>"), "\(xml)")
            #expect(xml.contains("<sysinfo type='fwcfg'>"))
            #expect(xml.contains("<entry name='opt/org.cvmkit/cmdline'>run=boot,stream stream.size=4M</entry>"))
            #expect(!xml.contains("<kernel>") && !xml.contains("<nvram>"))
            if LibvirtDomainXMLTests.hasValidator, mode != .sevSNP {
                let result = try LibvirtDomainXMLTests.validate(xml)
                #expect(result.ok, "\(result.output)\n\(xml)")
            }
        }
    }

    @Test func modeNoneBootsPVHUnlessAskedAndEveryPathStaysSelectable() throws {
        #expect(try plan(.none).unikernelBoot == .pvh)
        #expect(try plan(.none).bootLabel == "pvh+seabios")
        #expect(try plan(.none, firmware: .ovmf).unikernelBoot == .efi)
        let firmware = try plan(.none, boot: .firmware)
        #expect(firmware.spec.firmware == .ownImage(path: "/b/firmware.fd"))
        #expect(try QEMUCommandLine.render(firmware.spec).contains("-fw_cfg"))
        let efi = try plan(.sevSNP, boot: .efi)
        #expect(efi.bootLabel == "efi+ovmf")
        if case .kernel(let path, _, _) = efi.spec.boot { #expect(path == "/b/kernel.efi") } else { Issue.record("efi boot is not a kernel boot") }
    }

    @Test func impossibleCombinationsAreRefusedInOneLine() throws {
        #expect(throws: LaunchError.self) { try plan(.sev, boot: .pvh) }
        #expect(throws: LaunchError.self) { try plan(.sevSNP, boot: .firmware, firmware: .ovmf) }
        #expect(throws: LaunchError.self) { try plan(.none, boot: .efi, firmware: .seabios) }
        var old = Self.bundle
        old.firmwareImage = nil
        #expect(throws: LaunchError.self) { try plan(.sev, boot: .firmware, bundle: old) }
        // A bundle that predates firmware.fd falls back to its EFI application in confidential modes.
        #expect(try plan(.sev, bundle: old).unikernelBoot == .efi)
        var long = Self.bundle
        long.cmdline = String(repeating: "a", count: 4097)
        #expect(throws: LaunchError.invalid("command line of 4097 bytes: the firmware boot reads at most 4096 from fw_cfg")) { try plan(.none, boot: .firmware, bundle: long) }
        var options = LaunchOptions(name: "t")
        options.unikernelBoot = .firmware
        options.dryRun = true
        #expect(throws: LaunchError.self) { try LaunchBuilder(options: options).plan(.kernel(path: "/b/kernel", initrd: nil, cmdline: nil)) }
    }

    /// The builder's notices, collected from its Sendable callback.
    final class NoticeLog: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [String] = []
        func append(_ text: String) { lock.withLock { items.append(text) } }
        var all: [String] { lock.withLock { items } }
    }

    @Test func moreThanOneVCPUIsNoticedAsParkedAndMeasured() throws {
        var options = LaunchOptions(name: "t")
        options.mode = .sevSNP
        options.vcpus = 4
        options.dryRun = true
        options.cbitpos = 51
        let four = NoticeLog()
        _ = try LaunchBuilder(options: options) { four.append($0) }.plan(.bundle(Self.bundle))
        #expect(four.all.contains { $0.contains("leaves the other 3 parked") && $0.contains("VMSAs are still part of the launch measurement") }, "\(four.all)")
        options.vcpus = 1
        let one = NoticeLog()
        _ = try LaunchBuilder(options: options) { one.append($0) }.plan(.bundle(Self.bundle))
        #expect(!one.all.contains { $0.contains("parked") })
    }
}
