import Foundation
import HostOS
import HostProbe
import Testing
@testable import Launch

/// The same lifecycle through a real libvirtd (started by .ci/run) with a TCG domain. Skipped with a
/// message only when libvirtd is unreachable outside CI; in CI an unreachable libvirtd fails.
struct VMLifecycleLibvirtTests {
    static let uri = "qemu:///system"

    static var libvirtReachable: Bool {
        ProcessRunner().run(["virsh", "-c", uri, "version"], timeout: 20)?.status == 0
    }

    static var enabled: Bool {
        libvirtReachable || ProcessInfo.processInfo.environment["CI"] != nil
    }

    static func virsh(_ arguments: [String]) throws -> CommandOutput {
        try #require(ProcessRunner().run(["virsh", "-c", uri] + arguments, timeout: 60), "virsh is not installed")
    }

    @Test(.enabled(if: enabled, "libvirtd is not reachable at qemu:///system (and CI is not set): start it with virtlogd -d; libvirtd -d"))
    func defineStartConsoleDestroyUndefineLeavesNothingBehind() throws {
        try #require(Self.libvirtReachable, "CI is set but libvirtd is not reachable at \(Self.uri)")
        let bed = try VMTestBed()
        defer { bed.tearDown() }
        let raw = "cvm-vmtest-\(getpid())"
        let name = try VMName(raw)
        let record = try bed.manager.create(try bed.request(raw, backend: .libvirt))
        #expect(record.backend == .libvirt)
        let defined = try Self.virsh(["domstate", raw])
        #expect(defined.status == 0 && defined.stdout.contains("shut off"), "\(defined)")
        let xml = try Self.virsh(["dumpxml", raw]).stdout
        #expect(xml.contains("<domain type='qemu'"), "a TCG domain is expected")
        let varsPath = try bed.vm(raw).ovmfVars.path
        #expect(xml.contains(varsPath), "the VM's own VARS copy is its NVRAM")

        try bed.manager.start(name, waitFor: VMTestBed.readyLine, timeout: 90)
        #expect(try Self.virsh(["domstate", raw]).stdout.contains("running"))
        #expect(try bed.manager.status(name).status == .running)
        #expect(try String(contentsOf: bed.vm(raw).serialLog, encoding: .utf8).contains(VMTestBed.readyLine))

        try bed.manager.stop(name, timeout: 1)
        #expect(try Self.virsh(["domstate", raw]).stdout.contains("shut off"))
        #expect(try bed.manager.status(name).status == .stopped)

        try bed.manager.start(name, waitFor: VMTestBed.readyLine, timeout: 90)
        try bed.manager.delete(name)
        let all = try Self.virsh(["list", "--all", "--name"])
        #expect(all.status == 0)
        #expect(!all.stdout.split(separator: "\n").contains(Substring(raw)), "\(raw) is still known to libvirt")
        #expect(!FileManager.default.fileExists(atPath: try bed.vm(raw).url.path))
    }

    @Test(.enabled(if: enabled, "libvirtd is not reachable at qemu:///system (and CI is not set)"))
    func aNameTakenByAnotherDomainIsRefused() throws {
        try #require(Self.libvirtReachable, "CI is set but libvirtd is not reachable at \(Self.uri)")
        let bed = try VMTestBed()
        defer { bed.tearDown() }
        let raw = "cvm-vmtaken-\(getpid())"
        try bed.manager.create(try bed.request(raw, backend: .libvirt))
        let other = VMManager(store: VMStore(root: bed.home.appendingPathComponent("other-vms")))
        #expect(throws: VMError.self) { try other.create(try bed.request(raw, backend: .libvirt)) }
        try bed.manager.delete(try VMName(raw))
        #expect(try Self.virsh(["domstate", raw]).status != 0)
    }
}
