import Foundation
import HostOS
import SEVABI
import Testing
@testable import HostProbe

/// Replays recorded hosts through the real checker and asserts the verdict per mode and the reasons.
struct RecordedHostTests {
    static func report(_ name: String) throws -> HostReport {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures/hosts"))
        let recording = try RecordedHost.load(path: url.path)
        var options = HostChecker.Options()
        options.firmwareDirectories = ["/usr/share/OVMF", "/usr/share/ovmf"]
        return HostChecker(sources: recording.sources, options: options).run()
    }

    @Test func milanWithSNPEnabledIsReadyForEverySEVModeAndNotForTDX() throws {
        let report = try Self.report("milan-snp-ready")
        for mode in ConfidentialMode.sevModes {
            #expect(report.verdict(for: mode).ready, "\(mode): \(report.verdict(for: mode).blockers)")
        }
        // An AMD host: TDX is Intel's; the verdict says so first.
        let tdx = report.verdict(for: .tdx)
        #expect(!tdx.ready)
        #expect(tdx.blockers.contains { $0.hasPrefix("tdx.cpu: AuthenticAMD") }, "\(tdx.blockers)")
        #expect(report.check("tdx.cpu")?.hint?.contains("SEV") == true)
        #expect(report.check("cpu.generation")?.reason.contains("Milan") == true)
        #expect(report.check("cpuid.cbit")?.reason.contains("C-bit position 51") == true)
        #expect(report.check("msr.rmp")?.status == .pass)
        #expect(report.check("sev.firmware-version")?.reason.contains("1.55") == true)
        #expect(report.check("ovmf.snp")?.status == .pass)
        #expect(report.check("ovmf.kernel-hashes")?.reason.contains("OVMF.amdsev.fd") == true)
        #expect(report.check("qemu.kvm-guest")?.status == .pass)
    }

    @Test func genoaWithSNPDisabledInBIOSRunsSEVAndSEVESButNotSNP() throws {
        let report = try Self.report("genoa-snp-disabled")
        #expect(report.verdict(for: .sev).ready)
        #expect(report.verdict(for: .sevES).ready)
        let snp = report.verdict(for: .sevSNP)
        #expect(!snp.ready)
        let blockers = Set(snp.blockers.compactMap { $0.split(separator: ":").first.map(String.init) })
        #expect(blockers == ["msr.syscfg.snp", "msr.rmp", "kvm_amd.sev_snp", "sev.snp-status", "kernel.snp", "qemu.sev-snp-guest"])
        #expect(report.check("msr.rmp")?.status == .skip)
        #expect(report.check("msr.syscfg.snp")?.hint?.contains("BIOS") == true)
        #expect(report.check("kvm_amd.sev_snp")?.hint?.contains("6.11") == true)
        #expect(report.check("qemu.sev-snp-guest")?.hint?.contains("9.1") == true)
        #expect(report.check("cpu.generation")?.reason.contains("Genoa") == true)
    }

    @Test func romeOffersSEVESButHasNoSNPInCPUID() throws {
        let report = try Self.report("rome-sev-es")
        #expect(report.verdict(for: .sev).ready)
        #expect(report.verdict(for: .sevES).ready)
        #expect(!report.verdict(for: .sevSNP).ready)
        #expect(report.check("cpuid.sev-snp")?.status == .fail)
        #expect(report.check("cpuid.sev-snp")?.reason.contains("bit 4 clear") == true)
        #expect(report.check("cpu.generation")?.reason.contains("Rome, up to SEV-ES") == true)
        #expect(report.check("ovmf.snp")?.status == .pass)
        #expect(report.check("cpuid.cbit")?.reason.contains("C-bit position 47") == true)
    }

    @Test func intelHostFailsEveryModeAndPointsToTDX() throws {
        let report = try Self.report("intel-sapphire-rapids")
        for mode in ConfidentialMode.confidential { #expect(!report.verdict(for: mode).ready) }
        let vendor = try #require(report.check("cpu.vendor"))
        #expect(vendor.status == .fail)
        #expect(vendor.reason.hasPrefix("GenuineIntel"))
        #expect(vendor.hint?.contains("TDX") == true)
        // Linux 6.8 and QEMU 8.2: no KVM TDX host support, no tdx-guest.
        let blockers = Set(report.verdict(for: .tdx).blockers.compactMap { $0.split(separator: ":").first.map(String.init) })
        #expect(blockers.isSuperset(of: ["tdx.kvm", "tdx.kernel", "qemu.tdx-guest", "tdx.tdvf"]), "\(blockers)")
        #expect(report.check("tdx.kvm")?.reason.contains("no tdx parameter") == true)
        #expect(report.check("tdx.kernel")?.hint?.contains("6.16") == true)
        #expect(report.check("kvm_amd.loaded")?.reason.contains("kvm_intel") == true)
    }

    @Test func emeraldRapidsWithTDXEnabledIsReadyForTDXOnly() throws {
        let report = try Self.report("intel-emerald-rapids-tdx-ready")
        let tdx = report.verdict(for: .tdx)
        #expect(tdx.ready, "\(tdx.blockers)")
        for mode in ConfidentialMode.sevModes { #expect(!report.verdict(for: mode).ready) }
        #expect(report.check("tdx.keyids")?.reason.contains("31 MKTME KeyIDs, 32 TDX private KeyIDs") == true)
        #expect(report.check("tdx.module")?.reason.contains("version 1.5.16 build 1060 is initialized") == true)
        #expect(report.check("tdx.kvm")?.status == .pass)
        #expect(report.check("qemu.tdx-guest")?.status == .pass)
        // The real tail of Debian's TDVF: its footer table carries the TDX metadata offset entry.
        #expect(report.check("tdx.tdvf")?.reason.contains("OVMF.inteltdx.ms.fd") == true)
    }

    @Test func tdxOffInTheBIOSIsNamedWithItsFix() throws {
        let report = try Self.report("intel-sapphire-rapids-tdx-bios-off")
        let tdx = report.verdict(for: .tdx)
        #expect(!tdx.ready)
        let blockers = Set(tdx.blockers.compactMap { $0.split(separator: ":").first.map(String.init) })
        #expect(blockers == ["tdx.keyids", "tdx.kvm"], "\(tdx.blockers)")
        let keys = try #require(report.check("tdx.keyids"))
        #expect(keys.reason.contains("63 MKTME KeyIDs, 0 TDX private KeyIDs"))
        #expect(keys.hint?.contains("BIOS") == true)
        #expect(report.check("tdx.kvm")?.hint?.contains("tdx=1") == true)
        #expect(report.check("tdx.module")?.status == .info, "no /sys/firmware/tdx: not a blocker by itself")
    }

    @Test func nestedCloudVMIsHonestAboutWhatItVerified() throws {
        let report = try Self.report("nested-cloud-vm")
        for mode in ConfidentialMode.confidential { #expect(!report.verdict(for: mode).ready) }
        #expect(report.check("cpu.hypervisor")?.status == .info)
        #expect(report.check("cpuid.sev")?.status == .fail)
        // KVM itself answered and ran the four-instruction guest, so it is reported as usable...
        #expect(report.check("kvm.usable")?.status == .pass)
        #expect(report.check("kvm.usable")?.reason.contains("ran to HLT") == true)
        // ...and QEMU's own run under KVM is reported per CPU model, as verified, not assumed.
        let guest = try #require(report.check("qemu.kvm-guest"))
        #expect(guest.reason.contains("default: "))
        #expect(guest.reason.contains("host,-arch-capabilities: runs"))
        #expect(report.check("cpuid.sev")?.hint?.contains("hypervisor") == true)
        #expect(report.check("kvm_amd.loaded")?.reason.contains("kvm_pvm") == true)
        #expect(report.check("sev.device")?.status == .fail)
        #expect(report.check("ovmf.present")?.status == .pass)
    }

    /// nested-cloud-vm.json gained /dev/kvm's owner and mode (root:root 0600, no udev) and /etc/group
    /// and /etc/passwd from the same machine on 2026-12-02, by stat and cat, as `--record` now captures them.
    @Test func devKVMThatLibvirtsQEMUUserCannotOpenIsNamedWithTheFix() throws {
        let report = try Self.report("nested-cloud-vm")
        let access = try #require(report.check("kvm.device-access"))
        #expect(access.status == .fail)
        #expect(access.reason.contains("/dev/kvm is root:root 0600"))
        #expect(access.reason.contains("libvirt-qemu cannot open it"))
        #expect(access.hint?.contains("chgrp kvm /dev/kvm && chmod 0660 /dev/kvm") == true)
    }

    @Test func devKVMAtUdevsPermissionsPasses() throws {
        let url = try #require(Bundle.module.url(forResource: "nested-cloud-vm", withExtension: "json", subdirectory: "Fixtures/hosts"))
        var recording = try RecordedHost.load(path: url.path)
        let kvmGroup = try #require(recording.texts["/etc/group"]?.split(separator: "\n").first { $0.hasPrefix("kvm:") })
        let gid = try #require(UInt32(kvmGroup.split(separator: ":")[2]))
        recording.ownership = ["/dev/kvm": FileOwnership(uid: 0, gid: gid, mode: 0o660)]
        let report = HostChecker(sources: recording.sources).run()
        #expect(report.check("kvm.device-access")?.status == .pass)
        #expect(report.check("kvm.device-access")?.reason.contains("root:kvm 0660") == true)
    }

    @Test func insideAVMTheBlockingChecksPointToTheHypervisor() throws {
        let report = try Self.report("nested-cloud-vm")
        for id in ["kvm_amd.loaded", "sev.device"] {
            let hint = try #require(report.check(id)?.hint, "\(id)")
            #expect(hint.contains("cpu.hypervisor"), "\(id): \(hint)")
            #expect(!hint.contains("modprobe"), "\(id): \(hint)")
        }
        // The guide's BIOS table names these; here they cannot be read, and say why.
        for id in ["msr.syscfg", "msr.rmp", "cpuid.asids", "sev.platform-status"] {
            let check = try #require(report.check(id), "\(id) missing")
            #expect(check.status == .skip, "\(id)")
            #expect(check.reason.hasPrefix("not read") || check.reason.contains("not asked"), "\(id): \(check.reason)")
        }
        #expect(report.check("host.sme-active")?.reason.contains("this host is a VM") == true)
    }

    @Test func kvmPVMIsUsableButRunChoosesTCGAndModeNoneSaysSo() throws {
        let report = try Self.report("nested-cloud-vm")
        let kvm = try #require(report.check("kvm.usable"))
        #expect(kvm.status == .pass)
        #expect(kvm.reason.contains("kvm_pvm"))
        #expect(kvm.reason.contains("cvm run --accel auto uses TCG"))
        #expect(report.noneVerdict.ready)
        #expect(report.noneVerdict.accelerator == "tcg")
        let milan = try Self.report("milan-snp-ready")
        #expect(milan.noneVerdict.accelerator == "kvm")
    }

    @Test func smeActivityComesFromTheKernelFlagAndSYSCFG() throws {
        let milan = try Self.report("milan-snp-ready")
        let sme = try #require(milan.check("host.sme-active"))
        #expect(sme.status == .info)
        #expect(sme.reason.contains("MemEncryptionModEn (bit 23) set"))
    }

    @Test func everyFailedCheckOnRecordedHostsNamesAReason() throws {
        for name in ["milan-snp-ready", "genoa-snp-disabled", "rome-sev-es", "intel-sapphire-rapids", "nested-cloud-vm"] {
            let report = try Self.report(name)
            for check in report.checks {
                #expect(!check.reason.isEmpty, "\(name) \(check.id)")
                #expect(!check.reason.contains("\n"), "\(name) \(check.id)")
            }
        }
    }

    @Test func recordingAndReplayGiveTheSameReport() throws {
        let url = try #require(Bundle.module.url(forResource: "genoa-snp-disabled", withExtension: "json", subdirectory: "Fixtures/hosts"))
        let original = try RecordedHost.load(path: url.path)
        let recorder = HostRecorder(live: original.sources, description: "re-recorded")
        let first = HostChecker(sources: recorder.sources).run()
        let replayed = HostChecker(sources: recorder.result.sources).run()
        #expect(first.checks == replayed.checks)
    }

    @Test func malformedRecordingIsRejectedWithOneLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-host-\(UUID()).json").path
        try Data("{\"description\": 3}".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: RecordingError.self) { try RecordedHost.load(path: path) }
    }
}
