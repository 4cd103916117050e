import Foundation
import Testing
import SEVABI
import HostProbe
@testable import Launch

struct LibvirtDomainXMLTests {
    static let kernel = BootSource.kernel(path: "/b/kernel", initrd: "/b/initrd", cmdline: "console=ttyS0 a=<b>&c")

    static func validate(_ xml: String) throws -> (ok: Bool, output: String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("domain-\(UUID().uuidString).xml").path
        try Data(xml.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/virt-xml-validate")
        process.arguments = [path, "domain"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus == 0, output)
    }

    static var hasValidator: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/virt-xml-validate") }

    @Test(arguments: [ConfidentialMode.none, .sev, .sevES])
    func domainXMLValidatesAgainstTheInstalledSchemas(mode: ConfidentialMode) throws {
        try #require(Self.hasValidator, "virt-xml-validate is needed (apt-get install libvirt-clients)")
        let firmware: Firmware = mode == .none ? .seabios : .ovmfPflash(code: "/usr/share/OVMF/OVMF_CODE.fd", vars: "/tmp/vm/VARS.fd")
        let spec = LaunchSpec(name: "cvm-\(mode.rawValue)", boot: Self.kernel, mode: mode, vcpus: 2, firmware: firmware,
                              accelerator: mode == .none ? .tcg : .kvm, kernelHashes: mode != .none, cbitpos: 51, reducedPhysBits: 1,
                              cdroms: ["/tmp/vm/seed.iso"], userNetwork: true)
        let xml = try LibvirtDomainXML.render(spec, consoleLog: "/tmp/vm/console.log", dacLabel: "+0:+0")
        let result = try Self.validate(xml)
        #expect(result.ok, "\(result.output)\n\(xml)")
    }

    @Test func sevLaunchSecurityCarriesThePolicyAndKernelHashes() throws {
        let spec = LaunchSpec(name: "seed", boot: Self.kernel, mode: .sevES, policy: .sev(try SEVPolicy(rawValue: 0x07)),
                              firmware: .ovmfPflash(code: "/c.fd", vars: "/v.fd"), accelerator: .kvm, kernelHashes: true, cbitpos: 47)
        let xml = try LibvirtDomainXML.render(spec)
        #expect(xml.contains("<launchSecurity kernelHashes='yes' type='sev'>"))
        #expect(xml.contains("<policy>0x0007</policy>"))
        #expect(xml.contains("<cbitpos>47</cbitpos>"))
        #expect(xml.contains("<nvram>/v.fd</nvram>"))
        #expect(xml.contains("<locked/>"))
    }

    @Test func snpNeedsLibvirt105AndSaysSo() throws {
        let spec = LaunchSpec(name: "snp", boot: Self.kernel, mode: .sevSNP, firmware: .ovmfBios(path: "/usr/share/ovmf/OVMF.fd"), accelerator: .kvm)
        do {
            _ = try LibvirtDomainXML.render(spec, libvirtVersion: DottedVersion([9, 0, 0]))
            Issue.record("libvirt 9.0 must be refused for sev-snp")
        } catch let error as LaunchError {
            #expect(error.description.contains("10.5"))
            #expect(error.description.contains("--backend qemu"))
        }
        let xml = try LibvirtDomainXML.render(spec, libvirtVersion: DottedVersion([10, 5]))
        #expect(xml.contains("<launchSecurity type='sev-snp'>"))
        #expect(xml.contains("<policy>0x00030000</policy>"))
        #expect(xml.contains("<loader stateless='yes' type='rom'>/usr/share/ovmf/OVMF.fd</loader>"))
    }

    @Test func textIsEscaped() throws {
        let xml = try LibvirtDomainXML.render(LaunchSpec(name: "x", boot: Self.kernel))
        #expect(xml.contains("<cmdline>console=ttyS0 a=&lt;b&gt;&amp;c</cmdline>"))
    }

    @Test func exitCodeComesFromTheInitsLastMarker() {
        #expect(LibvirtRunner.exitCode(fromConsole: "boot\ncvm-init: t=1.5 run-exit code=3\ncvm-init: t=1.6 poweroff code=3\n") == 3)
        #expect(LibvirtRunner.exitCode(fromConsole: "no marker") == nil)
    }
}
