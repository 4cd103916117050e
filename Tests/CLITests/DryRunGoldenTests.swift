import Foundation
import GuestImage
import Testing

/// Refactor guard for issue 13: `cvm run --dry-run` prints the same QEMU argv and libvirt XML for the
/// same inputs, over a matrix of modes, boot protocols and backends. The golden files under
/// Fixtures/dry-run were produced by the pre-refactor code (commit 7a6a229, plus only the
/// $CVM_HOST_RECORDING hook that lets a dry run read a recorded host's CPUID) with
/// `CVM_UPDATE_DRY_RUN_GOLDEN=1 swift test --filter DryRunGoldenTests`; paths are normalised to
/// placeholders ($T for the test's directory, $VARS for a VARS copy, $PID). A golden changes only in
/// a commit that changes the launch on purpose, and says why.
@Suite(.serialized) struct DryRunGoldenTests {
    static let goldenDirectory = TestKernels.repository.appendingPathComponent("Tests/CLITests/Fixtures/dry-run")
    static let hosts = TestKernels.repository.appendingPathComponent("Tests/HostProbeTests/Fixtures/hosts")
    static var updating: Bool { ProcessInfo.processInfo.environment["CVM_UPDATE_DRY_RUN_GOLDEN"] == "1" }

    /// One input of the matrix: a name, the guest it boots (built in `Guests`), and `cvm run` options.
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let arguments: [String]
        /// Needs the test kernels built with the toolchain.
        var needsToolchain = false
        var host = "milan-snp-ready"
        var testDescription: String { name }
    }

    static let modes = ["none", "sev", "sev-es", "sev-snp"]

    static let cases: [Case] = {
        var all: [Case] = []
        for mode in modes {
            all.append(Case(name: "unikernel-\(mode)", arguments: ["$UNIKERNEL", "--mode", mode]))
            all.append(Case(name: "linux-\(mode)", arguments: ["$LINUX", "--mode", mode]))
            all.append(Case(name: "oci-bundle-\(mode)", arguments: ["$OCI", "--mode", mode]))
            all.append(Case(name: "kernel-linux-\(mode)", arguments: ["--kernel", "$LINUX_KERNEL", "--initrd", "$LINUX_INITRD", "--append", "console=ttyS0 quiet", "--mode", mode]))
            all.append(Case(name: "kernel-efi-\(mode)", arguments: ["--kernel", "$EFI", "--mode", mode], needsToolchain: true))
            all.append(Case(name: "disk-raw-\(mode)", arguments: ["--disk", "$DISK", "--mode", mode]))
        }
        all += [
            Case(name: "unikernel-none-ovmf", arguments: ["$UNIKERNEL", "--firmware", "ovmf"]),
            Case(name: "unikernel-none-seabios", arguments: ["$UNIKERNEL", "--firmware", "seabios", "--vcpus", "2", "--memory", "1G"]),
            Case(name: "linux-none-ovmf-extra-args", arguments: ["$LINUX", "--firmware", "ovmf", "--extra-args", "cvm.run=true", "--cpu", "max"]),
            Case(name: "linux-sev-snp-options", arguments: ["$LINUX", "--mode", "sev-snp", "--vcpus", "4", "--memory", "2G", "--cpu", "EPYC-Genoa",
                                                            "--policy", "0x30000", "--cbitpos", "51", "--reduced-phys-bits", "1"]),
            Case(name: "linux-sev-es-policy", arguments: ["$LINUX", "--mode", "sev-es", "--policy", "0x7"]),
            Case(name: "linux-sev-snp-kernel-hashes", arguments: ["$LINUX", "--mode", "sev-snp", "--kernel-hashes"]),
            Case(name: "linux-sev-snp-genoa-snp-disabled", arguments: ["$LINUX", "--mode", "sev-snp"], host: "genoa-snp-disabled"),
            Case(name: "linux-sev-rome", arguments: ["$LINUX", "--mode", "sev"], host: "rome-sev-es"),
            Case(name: "linux-sev-snp-no-sev-cpuid", arguments: ["$LINUX", "--mode", "sev-snp"], host: "nested-cloud-vm"),
            Case(name: "kernel-raw-bytes-none", arguments: ["--kernel", "$LINUX_KERNEL", "--append", "console=ttyS0"]),
            Case(name: "kernel-pvh-detected", arguments: ["--kernel", "$PVH"], needsToolchain: true),
            Case(name: "kernel-pvh-explicit", arguments: ["--kernel", "$PVH", "--boot-protocol", "pvh", "--append", "hello"], needsToolchain: true),
            Case(name: "kernel-multiboot-detected", arguments: ["--kernel", "$MULTIBOOT"], needsToolchain: true),
            Case(name: "kernel-multiboot-sev-refused", arguments: ["--kernel", "$MULTIBOOT", "--mode", "sev"], needsToolchain: true),
            Case(name: "kernel-efi-ovmf-path", arguments: ["--kernel", "$EFI", "--firmware", "/usr/share/OVMF/OVMF_CODE_4M.fd"], needsToolchain: true),
            Case(name: "preset-unikraft-multiboot", arguments: ["--kernel", "$MULTIBOOT", "--preset", "unikraft", "--accel", "tcg"], needsToolchain: true),
            Case(name: "preset-hermit-pvh", arguments: ["--kernel", "$PVH", "--initrd", "$LINUX_INITRD", "--preset", "hermit", "--accel", "kvm"], needsToolchain: true),
            Case(name: "preset-nanos-disk", arguments: ["--disk", "$DISK", "--preset", "nanos"]),
            Case(name: "preset-osv-disk", arguments: ["--disk", "$QCOW2", "--preset", "osv", "--accel", "tcg"]),
            Case(name: "disk-qcow2-none", arguments: ["--disk", "$QCOW2", "--vcpus", "2"]),
            Case(name: "disk-raw-format-given", arguments: ["--disk", "$DISK", "--disk-format", "raw", "--firmware", "ovmf"]),
            Case(name: "bios-image", arguments: ["--firmware", "bios:$DISK"]),
            Case(name: "bad-policy", arguments: ["$LINUX", "--mode", "sev", "--policy", "0x7"]),
        ]
        return all
    }()

    static let backends = ["qemu", "libvirt"]

    /// The guests the cases name, written once into one directory.
    final class Guests: Sendable {
        let root: URL
        let substitutions: [(String, String)]
        let toolchain: Bool

        init() throws {
            root = Self.rootDirectory
            let fm = FileManager.default
            // Built once per test process; the directory goes when the process ends.
            atexit { try? FileManager.default.removeItem(at: Guests.rootDirectory) }
            try fm.createDirectory(at: root, withIntermediateDirectories: true)
            // A file with a Linux setup header ("HdrS" at 0x202, protocol 2.15) and nothing else.
            var linux = [UInt8](repeating: 0, count: 8192)
            linux.replaceSubrange(0x202..<0x208, with: [0x48, 0x64, 0x72, 0x53, 0x0F, 0x02])
            let linuxKernel = root.appendingPathComponent("vmlinuz")
            try Data(linux).write(to: linuxKernel)
            let initrd = root.appendingPathComponent("initrd.img")
            try Data("an initrd".utf8).write(to: initrd)
            let disk = root.appendingPathComponent("disk.raw")
            try Data(count: 65_536).write(to: disk)
            let qcow2 = root.appendingPathComponent("disk.qcow2")
            try Data([0x51, 0x46, 0x49, 0xFB] + [UInt8](repeating: 0, count: 508)).write(to: qcow2)

            let linuxBundle = root.appendingPathComponent("linux-bundle")
            _ = try GuestBundle.write(to: linuxBundle, kernel: linuxKernel, initrd: initrd, cmdline: "console=ttyS0 rdinit=/init",
                                      manifest: Self.manifest(kind: "linux", protocolName: "linux"))
            let ociBundle = root.appendingPathComponent("oci-bundle")
            _ = try GuestBundle.write(to: ociBundle, kernel: linuxKernel, initrd: initrd, cmdline: "console=ttyS0 rdinit=/.cvm/init",
                                      manifest: Self.manifest(kind: "oci", protocolName: "linux"))

            var substitutions: [(String, String)] = [
                ("$LINUX_KERNEL", linuxKernel.path), ("$LINUX_INITRD", initrd.path), ("$LINUX", linuxBundle.path),
                ("$OCI", ociBundle.path), ("$DISK", disk.path), ("$QCOW2", qcow2.path),
            ]
            toolchain = TestKernels.available
            var efiBytes = Data("an EFI application".utf8)
            if toolchain {
                for kind in ["pvh", "multiboot", "efi"] {
                    let (dir, file) = try TestKernels.build(kind, message: "golden \(kind)", code: 3)
                    let target = root.appendingPathComponent(URL(fileURLWithPath: file).lastPathComponent)
                    try fm.moveItem(atPath: file, toPath: target.path)
                    try? fm.removeItem(at: dir)
                    substitutions.append(("$\(kind.uppercased())", target.path))
                    if kind == "efi" { efiBytes = try Data(contentsOf: target) }
                }
            }
            // A unikernel bundle: a PVH kernel with its EFI application beside it, no initrd.
            let unikernel = root.appendingPathComponent("unikernel-bundle")
            try fm.createDirectory(at: unikernel, withIntermediateDirectories: true)
            try Data("a PVH kernel".utf8).write(to: unikernel.appendingPathComponent(GuestBundle.kernelFile))
            try efiBytes.write(to: unikernel.appendingPathComponent("kernel.efi"))
            let cmdline = "run=stream stream.size=4M"
            try Data(cmdline.utf8).write(to: unikernel.appendingPathComponent(GuestBundle.cmdlineFile))
            var manifest = Self.manifest(kind: "unikernel", protocolName: "pvh")
            manifest.cmdline = cmdline
            for file in [GuestBundle.kernelFile, "kernel.efi", GuestBundle.cmdlineFile] {
                manifest.parts[file] = try PartDigest.of(fileAt: unikernel.appendingPathComponent(file), file: file)
            }
            try manifest.encoded().write(to: unikernel.appendingPathComponent(GuestBundle.manifestFile))
            substitutions.append(("$UNIKERNEL", unikernel.path))
            self.substitutions = substitutions
        }

        static let rootDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-dry-run-golden-\(getpid())")

        static func manifest(kind: String, protocolName: String) -> BundleManifest {
            BundleManifest(kind: kind, versions: [:], boot: .init(protocolName: protocolName, minimumMemoryMiB: 64),
                           build: .init(command: "golden test", tool: "DryRunGoldenTests", steps: [], inputs: []))
        }

        func expand(_ argument: String) -> String {
            var text = argument
            for (key, value) in substitutions { text = text.replacingOccurrences(of: key, with: value) }
            return text
        }
    }

    static let guests = Result { try Guests() }

    /// What a dry run printed, with the paths that differ from run to run replaced by placeholders.
    static func normalised(_ text: String, root: URL, cache: URL) -> String {
        var text = text.replacingOccurrences(of: cache.path, with: "$CACHE").replacingOccurrences(of: root.path, with: "$T")
        let rules: [(String, String)] = [
            // The per-run VARS copy lives wherever the launch keeps its state; only its presence matters.
            (#"file=[^ ']*OVMF_VARS[^ ']*\.fd"#, "file=$VARS"),
            (#"<nvram>[^<]*</nvram>"#, "<nvram>$VARS</nvram>"),
            (#"cvm-run-[0-9]+"#, "cvm-run-$PID"),
        ]
        for (pattern, replacement) in rules {
            text = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return text
    }

    static func render(_ testCase: Case, backend: String, guests: Guests) throws -> String {
        let cache = guests.root.appendingPathComponent("cache-\(UUID().uuidString)")
        var environment = ProcessInfo.processInfo.environment
        environment["CVM_CACHE"] = cache.path
        environment["CVM_HOST_RECORDING"] = hosts.appendingPathComponent("\(testCase.host).json").path
        let arguments = ["run"] + testCase.arguments.map(guests.expand) + ["--backend", backend, "--dry-run"]
        let run = try CLIRun.cvm(arguments, environment: environment)
        defer { try? FileManager.default.removeItem(at: cache) }
        var text = "cvm \(testCase.arguments.joined(separator: " ")) --backend \(backend) --dry-run\nstatus: \(run.status)\n"
        // A refusal is part of the behaviour; notices on standard error are not (they are free to improve).
        if run.status != 0 { text += "error: \(run.stderr.split(separator: "\n").last ?? "")\n" }
        text += "---\n" + run.stdout
        return normalised(text, root: guests.root, cache: cache)
    }

    @Test(arguments: cases, backends)
    func aDryRunPrintsWhatItPrintedBeforeTheRefactor(_ testCase: Case, backend: String) throws {
        let guests = try Self.guests.get()
        if testCase.needsToolchain && !guests.toolchain { return }
        let text = try Self.render(testCase, backend: backend, guests: guests)
        let golden = Self.goldenDirectory.appendingPathComponent("\(testCase.name).\(backend).txt")
        if Self.updating {
            try FileManager.default.createDirectory(at: Self.goldenDirectory, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: golden)
            return
        }
        let expected = try #require(try? String(contentsOf: golden, encoding: .utf8), "no golden file \(golden.lastPathComponent)")
        #expect(text == expected)
    }
}
