import Foundation
import HostOS
import Testing
@testable import HostProbe

/// The facts a bench's environment.json records, read from a recorded host's files and commands.
struct HostFactsTests {
    static func host(libvirt: CommandOutput?) -> RecordedHost {
        var host = RecordedHost(description: "facts", system: SystemFacts(kernelRelease: "6.12.9-amd64", memlockLimitBytes: nil, hostname: "bench-host"))
        host.texts["/proc/cpuinfo"] = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core Processor\nflags\t\t: sev\n"
        host.texts["/proc/meminfo"] = "MemTotal:       65536000 kB\nMemFree:         1000 kB\n"
        host.commands["qemu-system-x86_64 --version"] = CommandOutput(status: 0, stdout: "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-1)\nCopyright (c) 2003-2025\n", stderr: "")
        if let libvirt { host.commands["virsh --version"] = libvirt }
        return host
    }

    @Test func readsCPUMemoryKernelAndVersions() {
        let facts = HostFacts.collect(qemu: "qemu-system-x86_64", sources: Self.host(libvirt: CommandOutput(status: 0, stdout: "11.3.0\n", stderr: "")).sources)
        #expect(facts.hostname == "bench-host")
        #expect(facts.cpuModel == "AMD EPYC 9654 96-Core Processor")
        #expect(facts.memoryMiB == 64000)
        #expect(facts.kernelRelease == "6.12.9-amd64")
        #expect(facts.qemuVersion == "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-1)")
        #expect(facts.libvirtVersion == "11.3.0")
    }

    @Test func missingFilesAndFailingCommandsAreUnknown() {
        var host = Self.host(libvirt: CommandOutput(status: 1, stdout: "", stderr: "virsh: not found"))
        host.texts = [:]
        host.commands["qemu-system-x86_64 --version"] = nil
        let facts = HostFacts.collect(qemu: "qemu-system-x86_64", sources: host.sources)
        #expect(facts.cpuModel == "unknown")
        #expect(facts.memoryMiB == 0)
        #expect(facts.qemuVersion == nil)
        #expect(facts.libvirtVersion == nil)
    }

    /// The settings a reviewer asks for, as a bare-metal Linux host exposes them in /proc and /sys.
    @Test func readsMicrocodeGovernorSMTHugePagesCacheAndCommandLine() {
        var host = Self.host(libvirt: nil)
        host.texts["/proc/cpuinfo"] = "processor\t: 0\nmodel name\t: AMD EPYC 9654\nmicrocode\t: 0xa101148\n\nprocessor\t: 1\nmicrocode\t: 0xa101148\n"
        host.texts["/proc/cmdline"] = "BOOT_IMAGE=/vmlinuz mem_encrypt=on kvm_amd.sev=1 kvm_amd.sev_snp=1\n"
        host.texts["/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"] = "performance\n"
        host.texts["/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor"] = "schedutil\n"
        host.texts["/sys/devices/system/cpu/smt/control"] = "off\n"
        host.texts["/sys/devices/system/cpu/smt/active"] = "0\n"
        host.texts["/sys/kernel/mm/transparent_hugepage/enabled"] = "always [madvise] never\n"
        host.directories["/sys/devices/system/cpu/cpu0/cache"] = ["index0", "index1", "index2", "index3", "uevent"]
        for (index, level, size, type) in [(0, 1, "32K", "Data"), (1, 1, "32K", "Instruction"), (2, 2, "1024K", "Unified"), (3, 3, "32768K", "Unified")] {
            let base = "/sys/devices/system/cpu/cpu0/cache/index\(index)"
            host.texts[base + "/level"] = "\(level)\n"
            host.texts[base + "/size"] = size + "\n"
            host.texts[base + "/type"] = type + "\n"
        }
        let tuning = HostTuning.collect(sources: host.sources, cpuCount: 2)
        #expect(tuning.microcode == "0xa101148")
        #expect(tuning.kernelCommandLine == "BOOT_IMAGE=/vmlinuz mem_encrypt=on kvm_amd.sev=1 kvm_amd.sev_snp=1")
        #expect(tuning.cpuGovernor == "performance ×1, schedutil ×1")
        #expect(tuning.smt == "off, inactive")
        #expect(tuning.transparentHugepages == "madvise")
        #expect(tuning.lastLevelCache == 3 && tuning.lastLevelCacheBytes == 32 * 1024 * 1024)
    }

    @Test func aVMWithoutCpufreqOrSEVFirmwareHasThoseUnknown() {
        var host = Self.host(libvirt: nil)
        host.texts["/sys/devices/system/cpu/smt/control"] = "notsupported\n"
        let tuning = HostTuning.collect(sources: host.sources, cpuCount: 4)
        #expect(tuning.cpuGovernor == nil && tuning.sevFirmware == nil && tuning.snpCurrentTCB == nil)
        #expect(tuning.smt == "notsupported" && tuning.lastLevelCacheBytes == nil && tuning.microcode == nil)
    }

    @Test func sysfsSelectorsAndSizesParse() {
        #expect(HostTuning.selected("[always] madvise never") == "always" && HostTuning.selected("always") == nil)
        #expect(HostTuning.cacheSize("266240K") == 266_240 * 1024 && HostTuning.cacheSize("2M") == 2 << 20 && HostTuning.cacheSize("512") == 512)
        #expect(HostTuning.cacheSize("lots") == nil)
    }

    /// The recorded Milan host answers SNP_PLATFORM_STATUS: its firmware and TCB go into the facts.
    @Test func theSEVFirmwareAndTCBComeFromThePlatformStatus() throws {
        let url = try #require(Bundle.module.url(forResource: "milan-snp-ready", withExtension: "json", subdirectory: "Fixtures/hosts"))
        let tuning = HostTuning.collect(sources: try RecordedHost.load(path: url.path).sources, cpuCount: 1)
        #expect(tuning.sevFirmware == "1.55 (build 21)")
        #expect(tuning.snpCurrentTCB == String(format: "0x%016llx", UInt64(15_210_063_316_513_718_276)) && tuning.snpReportedTCB == tuning.snpCurrentTCB)
    }
}
