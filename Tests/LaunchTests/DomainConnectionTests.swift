import Foundation
import Testing
@testable import Launch

/// The virsh connection of `cvm run --backend libvirt` against the real libvirtd: a create that gets
/// no answer in time is reported as such (with where to look), not as a refusal with virsh's banner.
struct DomainConnectionTests {
    @Test func aCreateWithoutAnswerInTimeSaysSoAndLeavesNoDomain() throws {
        let virsh = "/usr/bin/virsh"
        guard FileManager.default.isExecutableFile(atPath: virsh), FileManager.default.fileExists(atPath: "/var/run/libvirt/libvirt-sock") else {
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("libvirtd is not reachable") }
            return // no libvirtd here; CI starts one and then this test must run
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-domconn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let name = "cvm-domconn-\(getpid())"
        let xml = dir.appendingPathComponent("domain.xml")
        try Data("""
        <domain type='qemu'><name>\(name)</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
        <os><type arch='x86_64' machine='q35'>hvm</type></os><devices></devices></domain>
        """.utf8).write(to: xml)
        // virsh cannot even connect within 10 ms, so the deadline passes before any answer.
        let error = #expect(throws: LaunchError.self) { try DomainConnection(virsh: virsh, uri: "qemu:///system", xml: xml.path, timeout: 0.01) }
        let message = "\(error.map { "\($0)" } ?? "")"
        #expect(message.contains("did not create the domain within"), "\(message)")
        #expect(message.contains("kvm.device-access"), "\(message)")
        #expect(!message.contains("Welcome to virsh"), "\(message)")
        #expect(!message.contains("refused"), "\(message)")
    }
}
