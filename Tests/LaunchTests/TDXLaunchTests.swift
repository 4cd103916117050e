import Foundation
import Testing
import HostProbe
import SEVABI
@testable import Launch

/// Mode tdx in the one launch builder: QEMU's tdx-guest (QEMU docs/system/i386/tdx.rst), libvirt's
/// `<launchSecurity type='tdx'>`, the TDVF with -bios, refusals. The real QEMU ≥ 10.1 and libvirt
/// schema checks are in TrixieToolsTests.
struct TDXLaunchTests {
    static let kernel = BootSource.kernel(path: "/b/vmlinuz", initrd: "/b/initrd", cmdline: "console=ttyS0")

    func value(after option: String, in args: [String]) -> [String] { QEMUCommandLineTests().value(after: option, in: args) }

    @Test func aTDGetsTdxGuestTheSplitIrqchipHostCPUAndTheTDVFAsBios() throws {
        let spec = LaunchSpec(name: "td", boot: Self.kernel, mode: .tdx, vcpus: 2, memoryMiB: 1024,
                              firmware: .ovmfBios(path: "/usr/share/ovmf/OVMF.inteltdx.fd"), accelerator: .kvm)
        let args = try QEMUCommandLine.render(spec)
        #expect(value(after: "-machine", in: args) == ["q35,confidential-guest-support=tdx0,kernel-irqchip=split"])
        #expect(value(after: "-object", in: args) == ["tdx-guest,id=tdx0,sept-ve-disable=on"])
        #expect(value(after: "-cpu", in: args) == ["host"])
        #expect(value(after: "-bios", in: args) == ["/usr/share/ovmf/OVMF.inteltdx.fd"])
        let line = args.joined(separator: " ")
        #expect(!line.contains("sev") && !line.contains("cbitpos") && !line.contains("pflash"))
    }

    @Test func otherAttributesGoWholeAndTheQuoteSocketTakesTheJSONForm() throws {
        var spec = LaunchSpec(name: "td", boot: Self.kernel, mode: .tdx, policy: .td(TDAttributes(rawValue: TDAttributes.septVEDisable | TDAttributes.pks)),
                              firmware: .ovmfBios(path: "/fw/TDVF.fd"), accelerator: .kvm)
        #expect(value(after: "-object", in: try QEMUCommandLine.render(spec)) == ["tdx-guest,id=tdx0,attributes=0x0000000050000000"])
        spec.policy = .td(TDAttributes(rawValue: 0))
        #expect(value(after: "-object", in: try QEMUCommandLine.render(spec)) == ["tdx-guest,id=tdx0,sept-ve-disable=off"])
        spec.policy = nil
        spec.tdx = TDXLaunchOptions(quoteGenerationSocket: "/var/run/tdx-qgs/qgs.socket")
        let object = try #require(value(after: "-object", in: try QEMUCommandLine.render(spec)).first)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(object.utf8)) as? [String: Any])
        #expect(json["qom-type"] as? String == "tdx-guest" && json["id"] as? String == "tdx0")
        #expect(json["sept-ve-disable"] as? Bool == true)
        let socket = try #require(json["quote-generation-socket"] as? [String: String])
        #expect(socket == ["type": "unix", "path": "/var/run/tdx-qgs/qgs.socket"])
    }

    @Test func libvirtGetsLaunchSecurityTDXWithTheAttributesAsPolicy() throws {
        var spec = LaunchSpec(name: "td", boot: Self.kernel, mode: .tdx, firmware: .ovmfBios(path: "/fw/TDVF.fd"), accelerator: .kvm)
        spec.tdx = TDXLaunchOptions(quoteGenerationSocket: "/var/run/tdx-qgs/qgs.socket")
        let xml = try LibvirtDomainXML.render(spec)
        #expect(xml.contains("<launchSecurity type='tdx'>"))
        #expect(xml.contains("<policy>0x10000000</policy>"))
        #expect(xml.contains("<quoteGenerationService path='/var/run/tdx-qgs/qgs.socket'/>"))
        #expect(xml.contains("<loader stateless='yes' type='rom'>/fw/TDVF.fd</loader>"))
        #expect(!xml.contains("cbitpos") && !xml.contains("<locked/>"))
    }

    @Test func refusalsNameTheirReason() throws {
        let tdvf = Firmware.ovmfBios(path: "/fw/TDVF.fd")
        let underTCG = LaunchSpec(name: "td", boot: Self.kernel, mode: .tdx, firmware: tdvf, accelerator: .tcg)
        #expect(throws: LaunchError.needsKVM(.tdx)) { try QEMUCommandLine.render(underTCG) }
        let bad: [(LaunchSpec, String)] = [
            (LaunchSpec(name: "td", boot: Self.kernel, mode: .tdx, firmware: .ovmfPflash(code: "/c", vars: "/v"), accelerator: .kvm), "-bios"),
            (LaunchSpec(name: "td", boot: Self.kernel, mode: .tdx, policy: .snp(.default), firmware: tdvf, accelerator: .kvm), "TD attributes"),
            (LaunchSpec(name: "td", boot: Self.kernel, mode: .sevSNP, policy: .td(.default), firmware: tdvf, accelerator: .kvm), "not TD attributes"),
            (LaunchSpec(name: "td", boot: Self.kernel, mode: .tdx, firmware: tdvf, accelerator: .kvm, kernelHashes: true), "RTMR"),
            (LaunchSpec(name: "td", boot: Self.kernel, mode: .tdx, policy: .td(TDAttributes(rawValue: 0x30000)), firmware: tdvf, accelerator: .kvm), "reserved bits"),
        ]
        for (spec, reason) in bad {
            #expect { try QEMUCommandLine.render(spec) } throws: { "\($0)".contains(reason) }
        }
        var sev = LaunchSpec(name: "g", boot: Self.kernel, mode: .sevSNP, firmware: tdvf, accelerator: .kvm)
        sev.tdx = TDXLaunchOptions(quoteGenerationSocket: "/run/qgs.sock")
        #expect { try QEMUCommandLine.render(sev) } throws: { "\($0)".contains("only for tdx") }
        #expect(throws: LaunchError.self) { try QEMUCommandLine.render(
            LaunchSpec(name: "td", boot: Self.kernel, mode: .tdx, firmware: tdvf, accelerator: .kvm), capabilities: HostProbeFixtures.qemu72) }
    }

    /// Debian's own images: OVMF_CODE.fd (OvmfPkgX64) carries the TDX metadata entry and is a TDVF, the
    /// 4 MiB OVMF_CODE_4M.fd does not, so --firmware with it is refused for tdx.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/OVMF/OVMF_CODE_4M.fd"), "needs Debian's ovmf"))
    func theFirmwareOfATDMustCarryTDXMetadata() throws {
        #expect { try LaunchPlanner.resolveFirmware(for: .tdx, request: .path("/usr/share/OVMF/OVMF_CODE_4M.fd")) } throws: {
            "\($0)".contains("no TDX metadata")
        }
        if FileManager.default.fileExists(atPath: "/usr/share/OVMF/OVMF_CODE.fd") {
            let resolved = try LaunchPlanner.resolveFirmware(for: .tdx, request: .path("/usr/share/OVMF/OVMF_CODE.fd"))
            #expect(resolved.firmware(varsPath: "") == .ovmfBios(path: "/usr/share/OVMF/OVMF_CODE.fd"))
        }
    }

    @Test func theUnikernelIsRefusedInTDXWithTheReason() throws {
        var options = LaunchOptions(name: "t")
        options.mode = .tdx
        options.dryRun = true
        #expect { try LaunchBuilder(options: options).plan(.bundle(FirmwareBootLaunchTests.bundle)) } throws: { "\($0)".contains("no TDX path") }
    }
}
