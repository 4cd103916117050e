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
}
