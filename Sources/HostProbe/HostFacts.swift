import Foundation
import HostOS

/// What identifies this host in a record of measurements (a benchmark's environment.json): CPU model,
/// memory, kernel, and the QEMU and libvirt versions that ran the guests.
public struct HostFacts: Sendable, Equatable {
    public var hostname: String
    public var cpuModel: String
    public var cpuCount: Int
    public var memoryMiB: Int
    public var kernelRelease: String
    /// The first line of `QEMU --version`; nil when it does not run.
    public var qemuVersion: String?
    /// `virsh --version`; nil without libvirt.
    public var libvirtVersion: String?
    public var tuning: HostTuning

    /// Reads the facts from `sources` (the live host by default), asking `qemu` for its version.
    public static func collect(qemu: String, sources: HostSources = .live()) -> HostFacts {
        let cpuinfo = sources.files.text(at: "/proc/cpuinfo") ?? ""
        let cpuModel = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let meminfo = sources.files.text(at: "/proc/meminfo") ?? ""
        let memoryKiB = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        let qemuVersion = sources.commands.run([qemu, "--version"], timeout: 20).flatMap { $0.stdout.split(separator: "\n").first.map(String.init) }
        let libvirt = sources.commands.run(["virsh", "--version"], timeout: 20)
            .flatMap { $0.status == 0 ? $0.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil }
        return HostFacts(hostname: sources.system.hostname, cpuModel: cpuModel, cpuCount: ProcessInfo.processInfo.processorCount,
                         memoryMiB: memoryKiB / 1024, kernelRelease: sources.system.kernelRelease,
                         qemuVersion: qemuVersion, libvirtVersion: libvirt,
                         tuning: HostTuning.collect(sources: sources, cpuCount: ProcessInfo.processInfo.processorCount))
    }
}
