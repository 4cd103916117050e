import Foundation
import BenchReport
import Launch
import SEVABI
import Testing
@testable import Bench

@Suite struct SettingsTests {
    @Test func yamlWithEveryKey() throws {
        let settings = try BenchSettings.parse(yaml: """
        guests:
          - unikernel
          - "bundle:web=out/web"
          - {name: vm, kernel: /boot/vmlinuz, initrd: /boot/initrd.img, cmdline: "console=ttyS0", reps: 3}
        modes: none,sev-snp
        workloads: [boot, stream]
        vcpus: [1, 2]
        memory: [256M, 1G]
        reps: 12
        warmups: 2
        timeout: 90
        accel: tcg
        firmware: ovmf
        out: results/one
        params: {stream.size: 8M}
        """)
        let options = try settings.resolved(quick: false)
        #expect(options.guests.map(\.name) == ["unikernel", "web", "vm"])
        #expect(options.guests[1].kind == .bundle(path: "out/web"))
        #expect(options.guests[2].kind == .kernel(path: "/boot/vmlinuz", initrd: "/boot/initrd.img", cmdline: "console=ttyS0"))
        #expect(options.repetitions(for: options.guests[2]) == 3)
        #expect(options.repetitions(for: options.guests[0]) == 12)
        #expect(options.modes == [.none, .sevSNP])
        #expect(options.workloads == ["boot", "stream"])
        #expect(options.vcpus == [1, 2])
        #expect(options.memoryMiB == [256, 1024])
        #expect(options.warmups == 2)
        #expect(options.timeoutSeconds == 90)
        #expect(options.accelerator == .tcg)
        #expect(options.firmware == .ovmf)
        #expect(options.out == "results/one")
        #expect(options.parameters == ["stream.size": "8M"])
    }

    @Test func flagsOverrideTheFile() throws {
        var file = BenchSettings()
        file.repetitions = 10
        file.modes = [.none]
        var flags = BenchSettings()
        flags.repetitions = 3
        let options = try file.overriding(with: flags).resolved(quick: false)
        #expect(options.repetitions == 3)
        #expect(options.modes == [.none])
    }

    @Test func quickDefaultsAndExplicitReps() throws {
        let quick = try BenchSettings().resolved(quick: true)
        #expect(quick.guests.map(\.name) == ["unikernel", "linux"])
        #expect(quick.workloads == ["boot", "stream", "chase", "sha256"])
        #expect(quick.modes == [.none, .sev, .sevES, .sevSNP, .tdx])
        #expect(quick.repetitions(for: quick.guests[0]) > quick.repetitions(for: quick.guests[1]))
        var flags = BenchSettings()
        flags.repetitions = 2
        let two = try flags.resolved(quick: true)
        #expect(two.guests.allSatisfy { two.repetitions(for: $0) == 2 })
    }

    /// Each bad input gives one line naming what is wrong.
    @Test(arguments: [
        ("modes: [none, sev-xx]", "unknown mode 'sev-xx'"),
        ("reps: many", "config:1: reps: 'many' is not a whole number"),
        ("colour: blue", "config:1: unknown key 'colour'"),
        ("guests: [windows]", "unknown guest 'windows'"),
        ("guests: [\"bundle:=x\"]", "expected bundle:NAME=DIR"),
        ("guests:\n  - {name: a, bogus: 1}", "unknown guest key 'bogus'"),
        ("memory: 12Q", "memory '12Q' is not a size"),
        ("workloads: [boot, dhrystone]", "unknown workload 'dhrystone'"),
        ("params: {stream.size: huge}", "workload parameter stream.size=huge"),
        ("params: {disk.size: 1M}", "unknown workload parameter 'disk.size'"),
        ("accel: hvf", "'hvf' is not auto, kvm or tcg"),
        ("firmware: coreboot", "firmware 'coreboot' is not auto, ovmf or a readable OVMF image"),
        ("firmware: seabios", "firmware 'seabios' is not auto, ovmf or an OVMF image path"),
        ("modes: [none\nreps: 2", "not valid YAML"),
        ("- just\n- a list", "expected a mapping of keys"),
        ("vcpus: [0]", "vCPU count 0 is out of range"),
        ("guests: [unikernel, unikernel]", "guest name 'unikernel' is used twice"),
        ("modes: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000), "nested more than 64 levels deep at line 1"),
        (String(repeating: "- ", count: 5000) + "x", "nested more than 64 levels deep"),
        ("mdoes: [none]", "unknown key 'mdoes'"),
    ])
    func badConfigIsOneLine(yaml: String, expected: String) {
        do {
            _ = try BenchSettings.parse(yaml: yaml).resolved(quick: false)
            Issue.record("accepted: \(yaml)")
        } catch {
            let text = "\(error)"
            #expect(text.contains(expected), "\(text)")
            #expect(!text.contains("\n"), "\(text)")
        }
    }

    @Test func flagLists() throws {
        #expect(try BenchSettings.list("none, sev-snp", what: "--modes") == ["none", "sev-snp"])
        #expect(throws: BenchError.self) { try BenchSettings.list("none,,sev", what: "--modes") }
        #expect(try BenchSettings.memory("2G") == 2048)
        #expect(try BenchSettings.memory("512") == 512)
        #expect(try GuestSpec.parse("kernel:k=/tmp/vmlinuz").kind == .kernel(path: "/tmp/vmlinuz", initrd: nil, cmdline: nil))
        #expect(throws: BenchError.self) { try GuestSpec.parse("bundle:a b=x") }
        #expect(try BenchSettings.parameter("ep.m=18") == ("ep.m", "18"))
    }
}

/// 13.7: `bench --firmware PATH` (a self-built AmdSev OVMF, say) is taken for every mode and named in the plan.
@Suite struct BenchFirmwarePathTests {
    @Test func aFirmwarePathIsAcceptedAndReachesThePlan() throws {
        let path = "/usr/share/ovmf/OVMF.fd"
        var settings = BenchSettings()
        settings.firmware = path
        let options = try settings.resolved(quick: false)
        #expect(options.firmware == .path(path))
        let plan = BenchPlanner.plan(options: options, guests: [], gate: HostGate(refusals: [:], accelerator: .tcg))
        #expect(plan.firmware == path)
        #expect(BenchPlanner.firmwarePath(for: .sevSNP, request: options.firmware) == path)
    }
}

/// Issue 14.5: the unikernel's boot path is an axis; every mode of a guest boots the same way by default.
@Suite struct BenchBootAxisTests {
    static func unikernel() -> PreparedGuest {
        PreparedGuest(spec: .unikernel, record: BenchGuest(name: "unikernel", kind: "unikernel", path: "/u", digests: [:], bootProtocol: "pvh"),
                      kernel: "/u/kernel", efiKernel: "/u/kernel.efi", firmwareImage: "/u/firmware.fd", initrd: nil, cmdline: "", minimumMemoryMiB: 16)
    }

    @Test func confidentialMatricesBootTheUnikernelAsItsOwnFirmwareInEveryMode() throws {
        var settings = BenchSettings()
        settings.modes = [.none, .sevSNP]
        let options = try settings.resolved(quick: false)
        #expect(options.unikernelBoots == [.firmware])
        let gate = HostGate(refusals: [.sevSNP: "no SNP here"], accelerator: .tcg)
        let plan = BenchPlanner.plan(options: options, guests: [Self.unikernel()], gate: gate)
        #expect(plan.cells.map(\.key) == ["unikernel@firmware/none/1vcpu/256M"])
        #expect(plan.skipped.map(\.cell.key) == ["unikernel@firmware/sev-snp/1vcpu/256M"])
        #expect(plan.boots == ["firmware"])
        #expect(plan.bootPaths?["unikernel@firmware/none/1vcpu/256M"] == "firmware.fd")
        #expect(plan.bootPaths?["unikernel@firmware/sev-snp/1vcpu/256M"] == "firmware.fd")
    }

    @Test func aListOfBootsExpandsIntoCellsAndPVHIsNeverConfidential() throws {
        let settings = try BenchSettings.parse(yaml: "modes: [none, sev]\nboot: [firmware, pvh, efi]\n", name: "bench.yaml")
        let options = try settings.resolved(quick: false)
        let plan = BenchPlanner.plan(options: options, guests: [Self.unikernel()], gate: HostGate(refusals: [:], accelerator: .tcg))
        #expect(Set(plan.cells.compactMap(\.boot)) == ["firmware", "pvh", "efi"])
        let pvh = try #require(plan.skipped.first { $0.cell.boot == "pvh" })
        #expect(pvh.cell.mode == "sev" && pvh.reason.contains("PVH"))
        #expect(plan.bootPaths?["unikernel@pvh/none/1vcpu/256M"] == "pvh+seabios")
        #expect(plan.bootPaths?["unikernel@efi/sev/1vcpu/256M"] == "efi+ovmf")
        #expect(throws: BenchError.self) { try BenchSettings.parse(yaml: "boot: [firmware, bios]\n", name: "b.yaml").resolved(quick: false) }
    }

    @Test func linuxBootsThroughOVMFInModeNoneWhenTheMatrixIsConfidential() throws {
        var settings = BenchSettings()
        settings.modes = [.none, .sev]
        #expect(try settings.resolved(quick: false).firmware == .ovmf)
        settings.modes = [.none]
        #expect(try settings.resolved(quick: false).firmware == .auto)
        settings.modes = [.none, .sev]
        settings.firmware = "auto"
        #expect(try settings.resolved(quick: false).firmware == .auto)
    }
}
