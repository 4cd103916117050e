import Crypto
import Foundation
import Testing
import UnikernelCore

/// Small sizes so TCG finishes each run in seconds; the same line for both boot paths and Linux.
let workloadCommandLine = "run=all stream.size=512K stream.reps=2 chase.size=1M chase.steps=50000 sha256.size=100003 ep.m=16 exits.iters=500 touch.pages=128"

let toolsPresent = FileManager.default.isExecutableFile(atPath: UnikernelBoot.qemu)
    && FileManager.default.isExecutableFile(atPath: "/opt/swift/usr/bin/swiftc")
let ovmfPresent = FileManager.default.fileExists(atPath: UnikernelBoot.ovmfCode)

/// Checks every workload's result lines against values computed here, on the host.
func checkWorkloads(_ run: RunOutput, boot: String) throws {
    #expect(run.records.contains { $0["kind"] == "info" && $0["boot"] == boot })

    let stream = run.results("stream")
    #expect(stream.map { $0["kernel"] } == ["copy", "scale", "add", "triad"])
    for line in stream {
        #expect(line["valid"] == "1")
        let rate = try #require(line["mb_per_s"].flatMap(Double.init))
        #expect(rate > 1 && rate < 1_000_000, "implausible STREAM bandwidth \(rate) MB/s")
    }

    let chase = try #require(run.results("chase").first)
    let latency = try #require(chase["ns_per_load"].flatMap(Double.init))
    #expect(latency > 0.1 && latency < 1_000_000, "implausible load latency \(latency) ns")

    let sha = try #require(run.results("sha256").first)
    var buffer = [UInt8](repeating: 0, count: 100_003)
    for index in buffer.indices { buffer[index] = UInt8(index % 251) }
    let hostDigest = Crypto.SHA256.hash(data: buffer).map { String(format: "%02x", $0) }.joined()
    #expect(sha["digest"] == hostDigest)

    let ep = try #require(run.results("ep").first)
    var scratch = [Double](repeating: 0, count: EmbarrassinglyParallel.scratchCount(log2Pairs: 16))
    let host = try #require(scratch.withUnsafeMutableBufferPointer { EmbarrassinglyParallel.run(log2Pairs: 16, scratch: $0) })
    let sx = try #require(ep["sx"].flatMap(Double.init)), sy = try #require(ep["sy"].flatMap(Double.init))
    #expect(abs(sx - host.sumX) < 1e-6 && abs(sy - host.sumY) < 1e-6)
    #expect(ep["accepted"] == String(host.accepted))

    let exits = run.results("exits")
    #expect(exits.map { $0["op"] } == ["cpuid", "pio", "rdmsr", "rdtsc"])
    for line in exits where boot != "linux" || line["cycles_per_op"] != "unsupported" {
        let cycles = try #require(line["cycles_per_op"].flatMap(Double.init), "\(line)")
        #expect(cycles > 0)
    }

    let touch = try #require(run.results("touch").first)
    #expect(touch["cycles_per_page"].flatMap(Double.init).map { $0 > 0 } == true)
}

func checkStages(_ run: RunOutput) {
    let stages = run.records.filter { $0["kind"] == "stage" }.compactMap { $0["name"] }
    #expect(stages == ["entry", "memory-ready", "workload-start", "workload-end"])
    let micros = run.records.filter { $0["kind"] == "stage" }.compactMap { $0["us"].flatMap(UInt64.init) }
    #expect(micros == micros.sorted(), "stage timestamps must not go backwards")
}

@Suite(.enabled(if: toolsPresent, "needs qemu-system-x86_64 and the Swift toolchain"))
struct PVHBootTests {
    @Test(.timeLimit(.minutes(3))) func noopBootsAndExitsWithSuccess() throws {
        let bundle = try BuiltBundle.directory.get()
        let run = try Runner.boot(UnikernelBoot(bundle: bundle, path: .pvh, cmdline: "run=noop"), timeout: 20)
        #expect(run.guestStatus == .success, "\(run.output)")
        #expect(run.results("noop").count == 1)
        checkStages(run)
    }

    @Test(.timeLimit(.minutes(3))) func everyWorkloadReportsCheckedResults() throws {
        let bundle = try BuiltBundle.directory.get()
        let run = try Runner.boot(UnikernelBoot(bundle: bundle, path: .pvh, cmdline: workloadCommandLine), timeout: 60)
        #expect(run.guestStatus == .success, "\(run.output)")
        try checkWorkloads(run, boot: "pvh")
        checkStages(run)
    }

    @Test(.timeLimit(.minutes(3))) func nullDereferencePrintsThePageFaultAndExitsNonZero() throws {
        let bundle = try BuiltBundle.directory.get()
        let run = try Runner.boot(UnikernelBoot(bundle: bundle, path: .pvh, cmdline: "run=fault"), timeout: 20)
        #expect(run.guestStatus == .exception, "\(run.output)")
        let fault = try #require(run.records.first { $0["kind"] == "exception" })
        #expect(fault["vector"] == "14" && fault["name"] == "#PF" && fault["cr2"] == "0x8")
        #expect(fault["rip"].map { $0.hasPrefix("0x1") } == true, "RIP inside the kernel image at 1 MiB")
        #expect(fault["error"] == "0x0", "read of a not-present page in ring 0")
    }

    @Test(.timeLimit(.minutes(3))) func badCommandLineIsReportedWithItsStatus() throws {
        let bundle = try BuiltBundle.directory.get()
        let run = try Runner.boot(UnikernelBoot(bundle: bundle, path: .pvh, cmdline: "run=noop colour=blue"), timeout: 20)
        #expect(run.guestStatus == .badCommandLine, "\(run.output)")
        #expect(run.records.contains { $0["kind"] == "error" && $0["token"] == "colour=blue" })
    }
}

@Suite(.enabled(if: toolsPresent && ovmfPresent, "needs qemu-system-x86_64, OVMF and the Swift toolchain"))
struct OVMFBootTests {
    @Test(.timeLimit(.minutes(3))) func everyWorkloadReportsCheckedResultsThroughOVMF() throws {
        let bundle = try BuiltBundle.directory.get()
        let run = try Runner.boot(UnikernelBoot(bundle: bundle, path: .ovmf, cmdline: workloadCommandLine), timeout: 150)
        #expect(run.guestStatus == .success, "\(run.output)")
        try checkWorkloads(run, boot: "efi")
        checkStages(run)
    }

    @Test(.timeLimit(.minutes(3))) func nullDereferenceFaultsThroughOVMF() throws {
        let bundle = try BuiltBundle.directory.get()
        let run = try Runner.boot(UnikernelBoot(bundle: bundle, path: .ovmf, cmdline: "run=fault"), timeout: 150)
        #expect(run.guestStatus == .exception, "\(run.output)")
        #expect(run.records.contains { $0["kind"] == "exception" && $0["vector"] == "14" && $0["cr2"] == "0x8" })
    }
}

@Suite(.enabled(if: toolsPresent, "needs the Swift toolchain"))
struct BuildTests {
    @Test func imageIsUnder256KiBAndTheManifestDigestsMatch() throws {
        let bundle = try BuiltBundle.directory.get()
        let data = try Data(contentsOf: bundle.appendingPathComponent("manifest.json"))
        let manifest = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(manifest["kind"] as? String == "unikernel")
        let parts = try #require(manifest["parts"] as? [String: [String: Any]])
        #expect(Set(parts.keys).isSuperset(of: ["kernel", "kernel.efi", "firmware.fd", "cmdline"]))
        for (name, part) in parts {
            let contents = try Data(contentsOf: bundle.appendingPathComponent(name))
            #expect(part["size"] as? Int == contents.count)
            #expect(part["sha256"] as? String == Crypto.SHA256.hash(data: contents).map { String(format: "%02x", $0) }.joined())
            #expect(part["sha384"] as? String == Crypto.SHA384.hash(data: contents).map { String(format: "%02x", $0) }.joined())
        }
        for image in ["kernel", "kernel.efi"] {
            let size = try Data(contentsOf: bundle.appendingPathComponent(image)).count
            #expect(size < 256 * 1024, "\(image) is \(size) bytes")
        }
    }

    @Test func sameSourcesGiveTheSameBytes() throws {
        let first = try BuiltBundle.directory.get()
        let second = try BuiltBundle.build(into: FileManager.default.temporaryDirectory.appendingPathComponent("cvmuk-again-\(getpid())"),
                                           linux: true).get()
        for name in ["kernel", "kernel.efi", "firmware.fd", "cvm-workloads", "manifest.json"] {
            let a = try Data(contentsOf: first.appendingPathComponent(name))
            let b = try Data(contentsOf: second.appendingPathComponent(name))
            #expect(a == b, "\(name) differs between two builds")
        }
    }

    @Test(.timeLimit(.minutes(3))) func linuxWorkloadBinaryComputesTheSameResultsOnTheHost() throws {
        let bundle = try BuiltBundle.directory.get()
        let run = try Runner.run(bundle.appendingPathComponent("cvm-workloads").path,
                                 workloadCommandLine.split(separator: " ").map(String.init), timeout: 60)
        #expect(run.exitCode == 0, "\(run.output)")
        try checkWorkloads(run, boot: "linux")
    }
}

@Suite(.enabled(if: toolsPresent, "needs qemu-system-x86_64 and the Swift toolchain"))
struct FirmwareBootTests {
    @Test(.timeLimit(.minutes(3))) func noopBootsFromTheResetVectorAndExitsWithSuccess() throws {
        let bundle = try BuiltBundle.directory.get()
        let run = try Runner.boot(UnikernelBoot(bundle: bundle, path: .firmware, cmdline: "run=noop"), timeout: 20)
        #expect(run.guestStatus == .success, "\(run.output)")
        #expect(run.results("noop").count == 1)
        checkStages(run)
        let info = try #require(run.records.first { $0["kind"] == "info" && $0["sev"] != nil })
        #expect(info["sev"] == "none" && info["c_bit"] == "0", "TCG has no SEV")
        #expect(info["cmdline_sha256"] == Crypto.SHA256.hash(data: Data("run=noop".utf8)).map { String(format: "%02x", $0) }.joined())
    }

    /// Without SEV (TCG) the SEV-ES/SNP paths stay idle: no #VC, no validation line, and the attest workload
    /// says the guest request is unavailable; touch reports its allocation time beside its touch time.
    @Test(.timeLimit(.minutes(3))) func withoutSNPTheAttestWorkloadIsUnavailableAndNothingIsValidated() throws {
        let bundle = try BuiltBundle.directory.get()
        for path in [UnikernelBoot.Path.firmware, .pvh] {
            let run = try Runner.boot(UnikernelBoot(bundle: bundle, path: path, cmdline: "run=attest,touch attest.reps=3 validate=lazy"), timeout: 30)
            #expect(run.guestStatus == .success, "\(run.output)")
            #expect(run.results("attest").first?["status"] == "unavailable", "\(run.output)")
            let touch = try #require(run.results("touch").first, "\(run.output)")
            #expect(touch["alloc_cycles_per_page"].flatMap(Double.init) != nil)
            #expect(!run.records.contains { $0["kind"] == "stage" && $0["name"] == "validate" }, "no SNP, nothing to validate")
        }
        let refused = try Runner.boot(UnikernelBoot(bundle: bundle, path: .pvh, cmdline: "run=attest attest.reps=0"), timeout: 30)
        #expect(refused.guestStatus == .badCommandLine, "\(refused.output)")
    }

    /// The kernel runs on vCPU 0 and says how many others it leaves parked, on every boot path.
    @Test(.timeLimit(.minutes(3))) func extraVCPUsAreReportedParked() throws {
        let bundle = try BuiltBundle.directory.get()
        for (path, vcpus) in [(UnikernelBoot.Path.firmware, 3), (.pvh, 2), (.pvh, 1)] {
            var boot = UnikernelBoot(bundle: bundle, path: path, cmdline: "run=noop")
            boot.vcpus = vcpus
            let run = try Runner.boot(boot, timeout: 30)
            #expect(run.guestStatus == .success, "\(run.output)")
            let cpus = try #require(run.records.first { $0["kind"] == "info" && $0["vcpus"] != nil }, "\(run.output)")
            #expect(cpus["vcpus"] == String(vcpus) && cpus["running"] == "1" && cpus["parked"] == String(vcpus - 1), "\(path) -smp \(vcpus)")
        }
    }

    @Test(.timeLimit(.minutes(4))) func workloadsGiveTheSameResultsAsThePVHPath() throws {
        let bundle = try BuiltBundle.directory.get()
        let firmware = try Runner.boot(UnikernelBoot(bundle: bundle, path: .firmware, cmdline: workloadCommandLine), timeout: 60)
        #expect(firmware.guestStatus == .success, "\(firmware.output)")
        try checkWorkloads(firmware, boot: "firmware")
        checkStages(firmware)
        let pvh = try Runner.boot(UnikernelBoot(bundle: bundle, path: .pvh, cmdline: workloadCommandLine), timeout: 60)
        #expect(pvh.guestStatus == .success, "\(pvh.output)")
        // Timings differ run to run; what a workload computes must not depend on the boot path.
        for (workload, key) in [("sha256", "digest"), ("ep", "sx"), ("ep", "sy"), ("ep", "accepted"), ("stream", "valid")] {
            #expect(firmware.results(workload).map { $0[key] } == pvh.results(workload).map { $0[key] }, "\(workload).\(key)")
        }
        #expect(firmware.results("exits").map { $0["op"] } == pvh.results("exits").map { $0["op"] })
    }

    /// The firmware path reads QEMU's own table (fw_cfg etc/e820); the PVH path gets the map SeaBIOS
    /// derives from the same table and then trims (it reserves a little at the top of low RAM for
    /// itself). So: the firmware map holds exactly the -m size, every PVH range lies inside it, and
    /// the RAM above 4 GiB, which SeaBIOS leaves alone, is identical. 256M is all low, 3G is split at
    /// q35's 2 GiB boundary around the 32-bit hole, 5G has more RAM above 4 GiB.
    @Test(.timeLimit(.minutes(4)), arguments: [256, 3072, 5120])
    func memoryMapMatchesQEMUsOwn(memoryMiB: Int) throws {
        let bundle = try BuiltBundle.directory.get()
        var firmwareBoot = UnikernelBoot(bundle: bundle, path: .firmware, cmdline: "run=noop")
        firmwareBoot.memoryMiB = memoryMiB
        var pvhBoot = UnikernelBoot(bundle: bundle, path: .pvh, cmdline: "run=noop")
        pvhBoot.memoryMiB = memoryMiB
        let firmware = try Runner.boot(firmwareBoot, timeout: 30)
        let pvh = try Runner.boot(pvhBoot, timeout: 30)
        #expect(firmware.guestStatus == .success && pvh.guestStatus == .success, "\(firmware.output)\n\(pvh.output)")
        let map = firmware.usableMemory(above: 0)
        let total = map.reduce(UInt64(0)) { $0 + $1[1] - $1[0] }
        #expect(total == UInt64(memoryMiB) << 20, "fw_cfg map: \(map)")
        let pvhMap = pvh.usableMemory(above: 1 << 20)
        #expect(!pvhMap.isEmpty)
        for range in pvhMap {
            #expect(map.contains { $0[0] <= range[0] && range[1] <= $0[1] }, "PVH range \(range) outside the fw_cfg map \(map)")
        }
        #expect(map.filter { $0[0] >= 1 << 32 } == pvhMap.filter { $0[0] >= 1 << 32 })
        #expect(map.contains { $0[0] >= 1 << 32 } == (memoryMiB >= 3072), "RAM above 4 GiB only when low RAM cannot hold it: \(map)")
        #expect(map.allSatisfy { $0[1] <= 0xb000_0000 || $0[0] >= 1 << 32 }, "nothing usable in the 32-bit hole: \(map)")
    }

    @Test(.timeLimit(.minutes(3))) func missingCommandLineFileIsAnErrorWithItsOwnStatus() throws {
        let bundle = try BuiltBundle.directory.get()
        let run = try Runner.boot(UnikernelBoot(bundle: bundle, path: .firmware, cmdline: nil), timeout: 20)
        #expect(run.guestStatus == .badFirmwareConfig, "\(run.output)")
        #expect(run.output.contains("cvmuk error reason=fw-cfg detail=fw_cfg?has?no?file?opt/org.cvmkit/cmdline"), "\(run.output)")
    }

    @Test(.timeLimit(.minutes(3))) func overLongCommandLineIsAnErrorNotATripleFault() throws {
        let bundle = try BuiltBundle.directory.get()
        let line = "run=noop " + String(repeating: "x", count: 5000)
        let run = try Runner.boot(UnikernelBoot(bundle: bundle, path: .firmware, cmdline: line), timeout: 20)
        #expect(run.guestStatus == .badFirmwareConfig, "\(run.output)")
        #expect(run.records.contains { $0["kind"] == "error" && $0["reason"] == "fw-cfg" && $0["detail"]?.contains("5009") == true })
    }

    @Test(.timeLimit(.minutes(3))) func nullDereferenceFaultsOnTheFirmwarePath() throws {
        let bundle = try BuiltBundle.directory.get()
        let run = try Runner.boot(UnikernelBoot(bundle: bundle, path: .firmware, cmdline: "run=fault"), timeout: 20)
        #expect(run.guestStatus == .exception, "\(run.output)")
        let fault = try #require(run.records.first { $0["kind"] == "exception" })
        #expect(fault["vector"] == "14" && fault["cr2"] == "0x8")
        #expect(fault["rip"].map { $0.hasPrefix("0xff") } == true, "RIP inside the ROM below 4 GiB: code runs from the image")
    }

    @Test func imageIsAFlatMultipleOf64KiBEndingInTheResetVectorAndFooter() throws {
        let bundle = try BuiltBundle.directory.get()
        let image = [UInt8](try Data(contentsOf: bundle.appendingPathComponent("firmware.fd")))
        #expect(image.count % 65536 == 0 && image.count < 256 * 1024, "\(image.count) bytes")
        let footer = try parse(image) { (raw) throws(BootInfoError) in try FirmwareFooter(image: raw) }
        #expect(footer.resetEIP >= 0xffff_0000, "AP reset code within the last 64 KiB, where CS base 0xffff0000 reaches")
        #expect(footer.sections.map(\.type) == [FirmwareFooter.secMem, FirmwareFooter.secrets, FirmwareFooter.cpuid])
        #expect(footer.sections[0].gpa == 0x10_0000 && footer.sections[0].size % 4096 == 0)
        // 0xFFFFFFF0: a near jmp (E9 rel16 in real mode, or EB rel8) back into the image.
        #expect([0xe9, 0xeb].contains(image[image.count - 16]))
    }
}
