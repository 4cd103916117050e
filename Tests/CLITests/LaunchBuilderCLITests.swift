import Foundation
import Testing

/// `cvm run` behaviour that the one launch builder decides: kernel files, disks, kernel hashes,
/// dry runs, the C-bit default and the SNP ID block (issues 12.10, 12.12, 12.14 and 13.7).
@Suite(.serialized) struct LaunchBuilderCLITests {
    static let hosts = TestKernels.repository.appendingPathComponent("Tests/HostProbeTests/Fixtures/hosts")

    static func scratch(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-launch-cli-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static let ownHosts = TestKernels.repository.appendingPathComponent("Tests/CLITests/Fixtures/hosts")

    static func environment(host: String, cache: URL) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["CVM_CACHE"] = cache.path
        let own = ownHosts.appendingPathComponent("\(host).json")
        environment["CVM_HOST_RECORDING"] = FileManager.default.fileExists(atPath: own.path) ? own.path : hosts.appendingPathComponent("\(host).json").path
        return environment
    }

    /// 12.12: bytes that are no kernel are bad input at once, not a Linux boot that hangs until the timeout.
    @Test func aRandomFileAsKernelIsBadInput() throws {
        let dir = try Self.scratch("random")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("random.bin")
        var generator = SystemRandomNumberGenerator()
        try Data((0..<100_000).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: file)
        let run = try CLIRun.cvm(["run", "--kernel", file.path, "--accel", "tcg", "--timeout", "30"])
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.contains("not a kernel QEMU can boot"), "\(run.stderr)")
        #expect(!run.stderr.contains("as given"))
    }

    /// 12.12: a directory is named as one.
    @Test func aDirectoryAsKernelIsNamedAsADirectory() throws {
        let dir = try Self.scratch("directory")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try CLIRun.cvm(["run", "--kernel", dir.path, "--dry-run"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("is a directory"), "\(run.stderr)")
    }

    /// 12.12: the first 4 KiB of a multiboot ELF: its loaded segment lies past the end, bad input (2), not QEMU failing (3).
    @Test(.enabled(if: TestKernels.available, TestKernels.skipReason))
    func aTruncatedELFKernelIsBadInput() throws {
        let (dir, kernel) = try TestKernels.build("multiboot", message: "truncated", code: 0)
        defer { try? FileManager.default.removeItem(at: dir) }
        let whole = try Data(contentsOf: URL(fileURLWithPath: kernel))
        try #require(whole.count > 4096)
        let truncated = dir.appendingPathComponent("head.elf")
        try whole.prefix(4096).write(to: truncated)
        let run = try CLIRun.cvm(["run", "--kernel", truncated.path, "--accel", "tcg", "--timeout", "30"])
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.contains("lies beyond the end of the file"), "\(run.stderr)")
    }

    /// 12.12: a kernel or disk that resets itself ends QEMU instead of booting again in a loop.
    @Test func diskAndKernelBootsEndAtAReboot() throws {
        let dir = try Self.scratch("noreboot")
        defer { try? FileManager.default.removeItem(at: dir) }
        let disk = dir.appendingPathComponent("disk.raw")
        try Data(count: 4096).write(to: disk)
        let run = try CLIRun.cvm(["run", "--disk", disk.path, "--dry-run"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains(" -no-reboot"), "\(run.stdout)")
    }

    /// 12.10: `--disk` does not write to the user's image: QEMU opens it read-only (the guest's writes
    /// go to a snapshot) and its bytes are unchanged after the run; --writable opens it read-write.
    @Test func aDiskBootLeavesTheImageUnchangedUnlessWritable() throws {
        let dir = try Self.scratch("snapshot")
        defer { try? FileManager.default.removeItem(at: dir) }
        let disk = dir.appendingPathComponent("user-image.raw")
        try Data(count: 1 << 20).write(to: disk)
        let before = try Data(contentsOf: disk)

        func accessMode(writable: Bool) throws -> Int32? {
            let process = Process()
            process.executableURL = CLIRun.executable
            process.arguments = ["run", "--disk", disk.path, "--accel", "tcg", "--timeout", "20", "--quiet"] + (writable ? ["--writable"] : [])
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            defer {
                kill(process.processIdentifier, SIGINT)
                process.waitUntilExit()
            }
            // QEMU may open an image read-only first and reopen it for writing once the device attaches:
            // watch for two seconds after the first open and keep the widest access seen.
            var widest: Int32?
            var firstSeen: Date?
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, firstSeen.map({ Date().timeIntervalSince($0) < 2 }) ?? true {
                for flags in Self.openFlags(of: disk.path) {
                    widest = max(widest ?? 0, flags & O_ACCMODE)
                    firstSeen = firstSeen ?? Date()
                }
                usleep(50_000)
            }
            return widest
        }
        let snapshot = try #require(try accessMode(writable: false), "QEMU never opened the disk")
        #expect(snapshot == O_RDONLY, "without --writable QEMU must not open the image for writing")
        #expect(try Data(contentsOf: disk) == before)
        let writable = try #require(try accessMode(writable: true), "QEMU never opened the disk")
        #expect(writable == O_RDWR)
    }

    /// The flags of every descriptor a running qemu-system process holds on `path`, from /proc/PID/fdinfo.
    static func openFlags(of path: String) -> [Int32] {
        var found: [Int32] = []
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in entries where pid.allSatisfy(\.isNumber) {
            guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: cmdline, as: UTF8.self).contains("qemu-system"),
                  let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { continue }
            for fd in fds {
                guard (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) == path,
                      let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8),
                      let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags:") }),
                      let flags = Int32(line.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) else { continue }
                found.append(flags)
            }
        }
        return found
    }

    /// 12.14: --kernel-hashes with a firmware that has no hashes table is refused, as `cvm measure` refuses it;
    /// an AmdSev firmware with the table is accepted.
    @Test func kernelHashesNeedAFirmwareWithTheHashesTable() throws {
        let dir = try Self.scratch("hashes")
        defer { try? FileManager.default.removeItem(at: dir) }
        let kernel = URL(fileURLWithPath: try RunCLITests.linuxKernel(in: dir))
        let environment = Self.environment(host: "milan-snp-ready", cache: dir.appendingPathComponent("cache"))
        let plain = try CLIRun.cvm(["run", "--kernel", kernel.path, "--mode", "sev-snp", "--kernel-hashes", "--firmware", "/usr/share/ovmf/OVMF.fd", "--dry-run"],
                                   environment: environment)
        #expect(plain.status == 2, "\(plain.stdout)")
        #expect(plain.stderr.contains("has no SEV hashes table"), "\(plain.stderr)")
        let amdsev = OCITestArchive.fixture("ovmf_AmdSev_suffix.bin")
        let measured = try CLIRun.cvm(["run", "--kernel", kernel.path, "--mode", "sev-snp", "--kernel-hashes", "--firmware", amdsev, "--dry-run"],
                                      environment: environment)
        #expect(measured.status == 0, "\(measured.stderr)")
        #expect(measured.stdout.contains("kernel-hashes=on"))
    }

    /// 12.14: a dry run writes nothing: no directory under the cache, and the VARS path it prints is not in it.
    @Test func aDryRunLeavesNothingBehind() throws {
        let dir = try Self.scratch("dry")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("cache")
        let kernel = URL(fileURLWithPath: try RunCLITests.linuxKernel(in: dir))
        for mode in ["sev", "sev-es", "none"] {
            let run = try CLIRun.cvm(["run", "--kernel", kernel.path, "--mode", mode, "--firmware", "ovmf", "--dry-run"],
                                     environment: Self.environment(host: "milan-snp-ready", cache: cache))
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains("if=pflash"))
            #expect(!run.stdout.contains(cache.path), "\(run.stdout)")
        }
        #expect(!FileManager.default.fileExists(atPath: cache.appendingPathComponent("dry-run").path))
    }

    /// 12.14: without SEV in CPUID the default C-bit follows the host's CPU generation (Rome 47; Milan, as
    /// Milan's CPUID 0x8000001F reports it, and Turin 51), as the help says; with SEV it is CPUID's own
    /// value (Genoa 51, Rome 47).
    @Test func theDefaultCBitFollowsTheHostsGeneration() throws {
        let dir = try Self.scratch("cbit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let kernel = URL(fileURLWithPath: try RunCLITests.linuxKernel(in: dir))
        for (host, cbit) in [("turin-sev-off", 51), ("milan-sev-off", 51), ("rome-sev-off", 47), ("genoa-snp-disabled", 51), ("rome-sev-es", 47)] {
            let run = try CLIRun.cvm(["run", "--kernel", kernel.path, "--mode", "sev", "--dry-run"],
                                     environment: Self.environment(host: host, cache: dir.appendingPathComponent("cache")))
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains("cbitpos=\(cbit),"), "\(host): \(run.stdout)")
        }
        let help = try CLIRun.cvm(["run", "--help"])
        // Help is wrapped at the terminal width: compare words.
        #expect(help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("47 on Naples and Rome, 51 from Milan on"))
    }

    /// 13.7: an ID block, ID auth and HOST_DATA from `cvm id-block` reach the QEMU argv and the libvirt XML.
    @Test func anIDBlockFromCvmIDBlockRendersForQEMUAndLibvirt() throws {
        let dir = try Self.scratch("idblock")
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("id.pem")
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", key.path]
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0)
        let measurement = String(repeating: "ab", count: 48)
        let block = try CLIRun.cvm(["id-block", "--measurement", measurement, "--id-key", key.path, "--json"])
        try #require(block.status == 0, "\(block.stderr)")
        let json = dir.appendingPathComponent("id-block.json")
        try Data(block.stdout.utf8).write(to: json)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(block.stdout.utf8)) as? [String: Any])
        let idBlock = try #require(object["idBlock"] as? String)
        let idAuth = try #require(object["idAuth"] as? String)
        let hostData = String(repeating: "0f", count: 32)
        let hostData64 = Data([UInt8](repeating: 0x0F, count: 32)).base64EncodedString()

        let kernel = URL(fileURLWithPath: try RunCLITests.linuxKernel(in: dir))
        let environment = Self.environment(host: "milan-snp-ready", cache: dir.appendingPathComponent("cache"))
        let base = ["run", "--kernel", kernel.path, "--mode", "sev-snp", "--id-block", json.path, "--host-data", hostData, "--dry-run"]
        let qemu = try CLIRun.cvm(base, environment: environment)
        #expect(qemu.status == 0, "\(qemu.stderr)")
        #expect(qemu.stdout.contains("id-block=\(idBlock),id-auth=\(idAuth)"), "\(qemu.stdout)")
        #expect(qemu.stdout.contains("host-data=\(hostData64)"))
        let libvirt = try CLIRun.cvm(base + ["--backend", "libvirt"], environment: environment)
        #expect(libvirt.status == 0, "\(libvirt.stderr)")
        #expect(libvirt.stdout.contains("<idBlock>\(idBlock)</idBlock>"))
        #expect(libvirt.stdout.contains("<idAuth>\(idAuth)</idAuth>"))
        #expect(libvirt.stdout.contains("<hostData>\(hostData64)</hostData>"))

        // The two base64 values given separately make the same launch; a short ID block is bad input.
        let separate = try CLIRun.cvm(["run", "--kernel", kernel.path, "--mode", "sev-snp", "--id-block", idBlock, "--id-auth", idAuth,
                                       "--host-data", hostData, "--dry-run"], environment: environment)
        #expect(separate.stdout == qemu.stdout)
        let short = try CLIRun.cvm(["run", "--kernel", kernel.path, "--mode", "sev-snp", "--id-block", "AAAA", "--id-auth", idAuth, "--dry-run"],
                                   environment: environment)
        #expect(short.status == 2)
        #expect(short.stderr.contains("--id-block: not 96 bytes"), "\(short.stderr)")
    }
}

/// 13.7: one flag name per concept; old spellings still work, hidden.
@Suite struct CLIDialectTests {
    static let ovmf = "/usr/share/ovmf/OVMF.fd"

    @Test func measureTakesFirmwareAndCPUAndKeepsTheOldSpellingsHidden() throws {
        let new = try CLIRun.cvm("measure", "--mode", "sev-snp", "--firmware", Self.ovmf, "--vcpus", "2", "--cpu", "EPYC-Milan", "--digest-encoding", "base64")
        #expect(new.status == 0, "\(new.stderr)")
        let old = try CLIRun.cvm("measure", "--mode", "sev-snp", "--ovmf", Self.ovmf, "--vcpus", "2", "--vcpu-type", "EPYC-Milan", "--output-format", "base64")
        #expect(old.status == 0, "\(old.stderr)")
        #expect(new.stdout == old.stdout)
        #expect(Data(base64Encoded: new.stdout.trimmingCharacters(in: .whitespacesAndNewlines))?.count == 48)
        let help = try CLIRun.cvm("measure", "--help")
        #expect(help.stdout.contains("--firmware") && help.stdout.contains("--cpu") && help.stdout.contains("--digest-encoding"))
        #expect(!help.stdout.contains("--ovmf") && !help.stdout.contains("--vcpu-type") && !help.stdout.contains("--output-format"))
    }

    @Test func runAndVMCreateDefaultToTheSameMemory() throws {
        let dir = try LaunchBuilderCLITests.scratch("memory")
        defer { try? FileManager.default.removeItem(at: dir) }
        let kernel = try RunCLITests.linuxKernel(in: dir)
        let run = try CLIRun.cvm(["run", "--kernel", kernel, "--dry-run"])
        var environment = ProcessInfo.processInfo.environment
        environment["CVM_HOME"] = dir.appendingPathComponent("home").path
        let disk = dir.appendingPathComponent("disk.raw")
        try Data(count: 65_536).write(to: disk)
        let vm = try CLIRun.cvm(["vm", "create", "memtest", "--disk", disk.path, "--dry-run"], environment: environment)
        #expect(run.status == 0 && vm.status == 0, "\(run.stderr)\(vm.stderr)")
        #expect(run.stdout.contains(" -m 512M ") && vm.stdout.contains(" -m 512M "), "\(vm.stdout)")
    }

    /// `cvm vm create --publish` forwards like `cvm run --publish`; `vm list` and `vm status` show the address.
    @Test func vmPublishForwardsPortsAndListShowsTheAddress() throws {
        let dir = try LaunchBuilderCLITests.scratch("vmpublish")
        defer { try? FileManager.default.removeItem(at: dir) }
        var environment = ProcessInfo.processInfo.environment
        environment["CVM_HOME"] = dir.appendingPathComponent("home").path
        let disk = dir.appendingPathComponent("disk.raw")
        try Data(count: 65_536).write(to: disk)
        let dry = try CLIRun.cvm(["vm", "create", "web", "--disk", disk.path, "--publish", "8088:80", "--dry-run"], environment: environment)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("user,id=net0,hostfwd=tcp:127.0.0.1:8088-:80"), "\(dry.stdout)")
        let created = try CLIRun.cvm(["vm", "create", "web", "--disk", disk.path, "--publish", "8088:80", "--accel", "tcg"], environment: environment)
        #expect(created.status == 0, "\(created.stderr)")
        let plain = try CLIRun.cvm(["vm", "create", "quiet", "--disk", disk.path, "--accel", "tcg"], environment: environment)
        #expect(plain.status == 0, "\(plain.stderr)")
        let list = try CLIRun.cvm(["vm", "list"], environment: environment)
        #expect(list.stdout.contains("ADDRESS"), "\(list.stdout)")
        let web = try #require(list.stdout.split(separator: "\n").first { $0.hasPrefix("web ") })
        #expect(web.hasSuffix("10.0.2.15 (user) 127.0.0.1:8088->80/tcp"), "\(web)")
        let quiet = try #require(list.stdout.split(separator: "\n").first { $0.hasPrefix("quiet ") })
        #expect(quiet.hasSuffix("  -"), "\(quiet)")
        let status = try CLIRun.cvm(["vm", "status", "web"], environment: environment)
        #expect(status.stdout.contains("address   10.0.2.15 (user) 127.0.0.1:8088->80/tcp"), "\(status.stdout)")
        let refused = try CLIRun.cvm(["vm", "create", "nonet", "--disk", disk.path, "--publish", "8089:80", "--network", "none"], environment: environment)
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("--publish needs the guest's user network"))
    }

    /// `vm create --dry-run` prints the first start's launch (with the SNP ID block and HOST_DATA) and creates nothing.
    @Test func vmCreateDryRunPrintsTheLaunchAndCreatesNothing() throws {
        let dir = try LaunchBuilderCLITests.scratch("vmdry")
        defer { try? FileManager.default.removeItem(at: dir) }
        var environment = ProcessInfo.processInfo.environment
        let home = dir.appendingPathComponent("home")
        environment["CVM_HOME"] = home.path
        let disk = dir.appendingPathComponent("disk.raw")
        try Data(count: 65_536).write(to: disk)
        let idBlock = Data(count: 96).base64EncodedString()
        let idAuth = Data(count: 4096).base64EncodedString()
        let common = ["vm", "create", "snpvm", "--disk", disk.path, "--mode", "sev-snp", "--id-block", idBlock, "--id-auth", idAuth,
                      "--host-data", String(repeating: "11", count: 32), "--dry-run"]
        let qemu = try CLIRun.cvm(common, environment: environment)
        #expect(qemu.status == 0, "\(qemu.stderr)")
        #expect(qemu.stdout.contains("sev-snp-guest") && qemu.stdout.contains("id-block=\(idBlock),id-auth=\(idAuth)"), "\(qemu.stdout)")
        #expect(qemu.stdout.contains("-daemonize -pidfile") && qemu.stdout.contains("-name snpvm"))
        let libvirt = try CLIRun.cvm(common + ["--backend", "libvirt"], environment: environment)
        #expect(libvirt.status == 0, "\(libvirt.stderr)")
        #expect(libvirt.stdout.contains("<idBlock>\(idBlock)</idBlock>") && libvirt.stdout.contains("<on_reboot>restart</on_reboot>"))
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("vms/snpvm").path))

        // A TD's VM carries the host's QGS socket to both backends; other modes refuse it.
        let td = ["vm", "create", "tdvm", "--disk", disk.path, "--mode", "tdx", "--quote-socket", "/var/run/tdx-qgs/qgs.socket", "--dry-run"]
        let tdQEMU = try CLIRun.cvm(td, environment: environment)
        #expect(tdQEMU.status == 0, "\(tdQEMU.stderr)")
        #expect(tdQEMU.stdout.contains("\"quote-generation-socket\":{\"type\":\"unix\",\"path\":\"/var/run/tdx-qgs/qgs.socket\"}"), "\(tdQEMU.stdout)")
        let tdLibvirt = try CLIRun.cvm(td + ["--backend", "libvirt"], environment: environment)
        #expect(tdLibvirt.stdout.contains("<quoteGenerationService path='/var/run/tdx-qgs/qgs.socket'/>"), "\(tdLibvirt.stdout)")
        let wrongMode = try CLIRun.cvm(common + ["--quote-socket", "/var/run/tdx-qgs/qgs.socket"], environment: environment)
        #expect(wrongMode.status == 2 && wrongMode.stderr.contains("only for tdx"), "\(wrongMode.stderr)")
    }
}
