import Foundation
import Testing
import SEVABI
@testable import Launch

struct QEMUCommandLineTests {
    static let kernel = BootSource.kernel(path: "/b/kernel", initrd: "/b/initrd", cmdline: "console=ttyS0")

    func value(after option: String, in args: [String]) -> [String] {
        args.indices.filter { args[$0] == option && $0 + 1 < args.count }.map { args[$0 + 1] }
    }

    @Test func plainGuestUnderTCGHasNoSEVObjects() throws {
        let spec = LaunchSpec(name: "g", boot: Self.kernel, vcpus: 2, memoryMiB: 256, accelerator: .tcg)
        let args = try QEMUCommandLine.render(spec)
        #expect(args.first == "qemu-system-x86_64")
        #expect(value(after: "-accel", in: args) == ["tcg"])
        #expect(value(after: "-machine", in: args) == ["q35"])
        #expect(value(after: "-smp", in: args) == ["2"])
        #expect(value(after: "-m", in: args) == ["256M"])
        #expect(value(after: "-append", in: args) == ["console=ttyS0"])
        #expect(!args.joined(separator: " ").contains("sev"))
        #expect(value(after: "-device", in: args).contains("isa-debug-exit,iobase=0xf4,iosize=0x04"))
    }

    @Test(arguments: [ConfidentialMode.sev, .sevES, .sevSNP])
    func confidentialModesNeverReachQEMUUnderTCG(mode: ConfidentialMode) {
        let firmware: Firmware = mode == .sevSNP ? .ovmfBios(path: "/fw/OVMF.fd") : .ovmfPflash(code: "/fw/CODE.fd", vars: "/vm/VARS.fd")
        let spec = LaunchSpec(name: "g", boot: Self.kernel, mode: mode, firmware: firmware, accelerator: .tcg)
        #expect(throws: LaunchError.self) { try QEMUCommandLine.render(spec) }
    }

    @Test func sevESUsesPflashWithTheVMsOwnVarsAndTheESPolicy() throws {
        let spec = LaunchSpec(name: "g", boot: Self.kernel, mode: .sevES, firmware: .ovmfPflash(code: "/fw/CODE.fd", vars: "/vm/a/VARS.fd"),
                              accelerator: .kvm, cbitpos: 51, reducedPhysBits: 1)
        let args = try QEMUCommandLine.render(spec)
        #expect(value(after: "-machine", in: args) == ["q35,confidential-guest-support=sev0"])
        #expect(value(after: "-object", in: args) == ["sev-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,policy=0x5"])
        #expect(value(after: "-drive", in: args) == ["if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd",
                                                      "if=pflash,format=raw,unit=1,file=/vm/a/VARS.fd"])
        #expect(value(after: "-cpu", in: args) == ["EPYC-v4"])
    }

    @Test func snpUsesMemfdBiosAndEveryLaunchInput() throws {
        let idBlock = Data(repeating: 1, count: 96).base64EncodedString()
        let idAuth = Data(repeating: 2, count: 4096).base64EncodedString()
        let hostData = Data(repeating: 3, count: 32).base64EncodedString()
        let spec = LaunchSpec(name: "g", boot: Self.kernel, mode: .sevSNP, policy: .snp(try SNPPolicy(rawValue: 0x30000)),
                              vcpus: 4, cpuModel: "EPYC-Genoa", memoryMiB: 2048, firmware: .ovmfBios(path: "/fw/OVMF.amdsev.fd"),
                              accelerator: .kvm, kernelHashes: true,
                              snp: SNPLaunchOptions(idBlock: idBlock, idAuth: idAuth, authorKeyEnabled: true, hostData: hostData))
        let args = try QEMUCommandLine.render(spec)
        #expect(value(after: "-machine", in: args) == ["q35,confidential-guest-support=sev0,memory-backend=ram1"])
        #expect(value(after: "-bios", in: args) == ["/fw/OVMF.amdsev.fd"])
        let objects = value(after: "-object", in: args)
        #expect(objects.first == "memory-backend-memfd,id=ram1,size=2048M,share=true,prealloc=false")
        #expect(objects.last == "sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,policy=0x30000,kernel-hashes=on,id-block=\(idBlock),id-auth=\(idAuth),author-key-enabled=on,host-data=\(hostData)")
        #expect(!args.contains("if=pflash"))
    }

    @Test func snpIsRefusedByAQEMUWithoutSevSnpGuest() throws {
        let spec = LaunchSpec(name: "g", boot: Self.kernel, mode: .sevSNP, firmware: .ovmfBios(path: "/fw/OVMF.fd"), accelerator: .kvm)
        let old = HostProbeFixtures.qemu72
        #expect(throws: LaunchError.self) { try QEMUCommandLine.render(spec, capabilities: old) }
    }

    @Test func qemu72GetsTheKernelHashesMachineWorkaround() throws {
        let spec = LaunchSpec(name: "g", boot: Self.kernel, mode: .sev, firmware: .ovmfPflash(code: "/c", vars: "/v"),
                              accelerator: .kvm, kernelHashes: true)
        let args = try QEMUCommandLine.render(spec, capabilities: HostProbeFixtures.qemu72)
        #expect(value(after: "-machine", in: args) == ["pc-q35-7.1,confidential-guest-support=sev0"])
    }

    @Test func invalidSpecsAreRejectedWithAReason() {
        let bad: [LaunchSpec] = [
            LaunchSpec(name: "g", boot: Self.kernel, mode: .sev, firmware: .seabios, accelerator: .kvm),
            LaunchSpec(name: "g", boot: Self.kernel, vcpus: 0),
            LaunchSpec(name: "g", boot: Self.kernel, mode: .sevES, policy: .sev(try! SEVPolicy(rawValue: 0x1)),
                       firmware: .ovmfPflash(code: "/c", vars: "/v"), accelerator: .kvm),
            LaunchSpec(name: "g", boot: Self.kernel, mode: .sevSNP, firmware: .ovmfPflash(code: "/c", vars: "/v"), accelerator: .kvm),
            LaunchSpec(name: "g", boot: .disk(path: "/d.qcow2", format: "qcow2"), mode: .sev, firmware: .ovmfPflash(code: "/c", vars: "/v"),
                       accelerator: .kvm, kernelHashes: true),
            LaunchSpec(name: "g", boot: Self.kernel, snp: SNPLaunchOptions(hostData: "AAAA")),
        ]
        for spec in bad {
            #expect(throws: LaunchError.self) { try QEMUCommandLine.render(spec) }
        }
    }

    @Test func shellQuotingRoundTripsThroughARealShell() throws {
        let words = ["qemu-system-x86_64", "-append", "console=ttyS0 cvm.run='echo hi'", "a b", "$HOME", "plain,ok=1"]
        let line = QEMUCommandLine.shellQuoted(words)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "for w in \(line); do printf '%s\\n' \"$w\"; done"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(output.split(separator: "\n").map(String.init) == words)
    }

    @Test func commasInPathsAreEscapedForQEMU() throws {
        let spec = LaunchSpec(name: "g", boot: .disk(path: "/a,b/disk.qcow2", format: "qcow2"), accelerator: .tcg)
        let args = try QEMUCommandLine.render(spec)
        #expect(value(after: "-drive", in: args).first == "if=none,id=disk0,format=qcow2,file=/a,,b/disk.qcow2")
    }
}
