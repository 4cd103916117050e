import Foundation
import Testing
@testable import GuestImage

/// The Linux guest built for real (apt download into the shared cache on first use) and booted under
/// QEMU TCG, with SeaBIOS and with OVMF.
private let builtBundle: Result<GuestBundle, any Error> = Result {
    // One fixed place, replaced on each run, so repeated runs leave nothing behind.
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-guestimage-linux-bundle")
    return try LinuxGuestBuilder(options: .init(output: out)).build()
}

@Suite(.serialized) struct LinuxGuestBootTests {
    struct Boot {
        let status: Int32
        let console: String
        let markers: [GuestInit.Marker]
        func marker(_ event: String) -> GuestInit.Marker? { markers.first { $0.event == event } }
    }

    enum Firmware { case seaBIOS, ovmf }

    /// Boots `kernel`/`initrd` with `append` and returns QEMU's exit status and the serial console.
    static func boot(_ bundle: GuestBundle, append: String, firmware: Firmware = .seaBIOS, initrd: URL? = nil,
                     extraArguments: [String] = ["-nographic"], memory: Int = 512) throws -> Boot {
        let scratch = try TestSupport.temporaryDirectory("boot")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var arguments = ["qemu-system-x86_64", "-accel", "tcg", "-m", "\(memory)", "-no-reboot"] + extraArguments + [
            "-kernel", bundle.kernelURL.path, "-initrd", (initrd ?? bundle.initrdURL).path, "-append", append,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
        if firmware == .ovmf {
            let vars = scratch.appendingPathComponent("OVMF_VARS.fd")
            try FileManager.default.copyItem(atPath: "/usr/share/OVMF/OVMF_VARS_4M.fd", toPath: vars.path)
            arguments += ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                          "-drive", "if=pflash,format=raw,unit=1,file=\(vars.path)"]
        }
        let result = try TestSupport.shell(arguments.map(TestSupport.quote).joined(separator: " ") + " </dev/null", timeout: 300)
        #expect(!result.timedOut, "QEMU did not finish in 300 s:\n\(result.output.suffix(3000))")
        let markers = result.output.split(whereSeparator: \.isNewline).compactMap { GuestInit.Marker.parse(String($0)) }
        return Boot(status: result.status, console: result.output, markers: markers)
    }

    static func bundle() throws -> GuestBundle { try builtBundle.get() }

    @Test func seaBIOSBootRunsTheCommandAndItsExitCodeReachesTheHost() throws {
        let bundle = try Self.bundle()
        let run = try Self.boot(bundle, append: bundle.cmdline + " " + GuestInit.runArgument("echo hello-from-guest; exit 7"))
        #expect(run.status == (7 << 1) | 1, "\(run.console.suffix(2000))")
        #expect(run.console.contains("hello-from-guest"))
        for event in ["init-start", "mounts-done", "initramfs-ok", "modules-done", "attestation", "run-start", "run-exit", "poweroff"] {
            #expect(run.marker(event) != nil, "marker \(event) missing")
        }
        #expect(run.marker("run-exit")?.fields["code"] == "7")
        #expect(run.marker("init-start")?.fields["version"] == GuestInit.version)
        // No SNP under TCG: sev-guest finds no device, so the attestation device is absent.
        #expect(run.marker("attestation")?.fields["sev-guest"] == "absent")
        let loaded = run.markers.filter { $0.event == "module" && $0.fields["result"] == "loaded" }.compactMap { $0.fields["name"] }
        #expect(loaded.contains("configfs.ko") && loaded.contains("virtio_net.ko"), "\(loaded)")
        // A kernel from 6.7 on (the default when apt offers one) has configfs-tsm: the report interface is there.
        if let release = bundle.manifest.versions["kernel"], KernelPackageChoice.hasConfigfsTSM(release) {
            #expect(loaded.contains("tsm.ko"), "\(loaded)")
            #expect(run.marker("attestation")?.fields["tsm-report"] == "present")
        }
        let times = run.markers.map(\.seconds)
        #expect(times == times.sorted(), "boot-time stamps increase")
    }

    @Test func ovmfBootRunsTheCommandAndItsExitCodeReachesTheHost() throws {
        let bundle = try Self.bundle()
        let run = try Self.boot(bundle, append: bundle.cmdline + " " + GuestInit.runArgument("cat /proc/cmdline; ls /sys/firmware/efi >/dev/null && echo efi-booted; exit 3"),
                                firmware: .ovmf)
        #expect(run.status == (3 << 1) | 1, "\(run.console.suffix(2000))")
        #expect(run.console.contains("efi-booted"))
        #expect(run.marker("run-exit")?.fields["code"] == "3")
    }

    @Test func defaultCommandPrintsTheSummaryAndExitsZero() throws {
        let bundle = try Self.bundle()
        let run = try Self.boot(bundle, append: bundle.cmdline)
        #expect(run.status == 1, "exit code 0 arrives as QEMU status 1\n\(run.console.suffix(2000))")
        #expect(run.console.contains("cvm-guest: Linux \(bundle.manifest.versions["kernel"] ?? "?")"))
        #expect(run.console.contains("/dev/sev-guest absent"))
    }

    @Test func commandOutputGoesToTheSecondSerialPortApartFromTheKernelLog() throws {
        let bundle = try Self.bundle()
        let scratch = try TestSupport.temporaryDirectory("ttyS1")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let appLog = scratch.appendingPathComponent("app.log")
        let run = try Self.boot(bundle, append: bundle.cmdline + " cvm.console=ttyS1 " + GuestInit.runArgument("echo app-says-\"hi\"; exit 0"),
                                extraArguments: ["-display", "none", "-monitor", "none", "-serial", "stdio", "-serial", "file:\(appLog.path)"])
        #expect(run.status == 1, "\(run.console.suffix(2000))")
        let app = try String(contentsOf: appLog, encoding: .utf8)
        #expect(app.contains("app-says-hi"))
        #expect(!app.contains("Linux version"), "kernel log stays on ttyS0")
        #expect(!run.console.contains("app-says-hi"))
        #expect(run.marker("run-start")?.fields["console"] == "/dev/ttyS1")
    }

    /// Cuts the archive just before its last member (the completion marker), as the kernel leaves it
    /// when unpacking stops early, and checks the init refuses to run.
    @Test func aTruncatedInitramfsIsRefused() throws {
        let bundle = try Self.bundle()
        let scratch = try TestSupport.temporaryDirectory("truncated")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let cpio = scratch.appendingPathComponent("initrd.cpio")
        #expect(try TestSupport.shell("gzip -dc \(bundle.initrdURL.path) > \(cpio.path)").status == 0)
        let bytes = try [UInt8](Data(contentsOf: cpio))
        let name = Array((GuestInit.completionPath + "\0").utf8)
        guard let nameStart = (0..<(bytes.count - name.count)).last(where: { Array(bytes[$0..<($0 + name.count)]) == name }) else {
            Issue.record("no completion marker in the initrd")
            return
        }
        let truncated = scratch.appendingPathComponent("truncated.gz")
        try Data(bytes[..<(nameStart - 110)]).write(to: scratch.appendingPathComponent("cut.cpio"))
        #expect(try TestSupport.shell("gzip -n -c cut.cpio > \(truncated.path)", in: scratch).status == 0)
        let run = try Self.boot(bundle, append: bundle.cmdline + " cvm.run=true", initrd: truncated)
        #expect(run.status == (GuestInit.truncatedCode << 1) | 1, "\(run.console.suffix(2000))")
        #expect(run.marker("initramfs-truncated") != nil)
        #expect(run.marker("run-start") == nil)
    }

    @Test func twoBuildsGiveByteIdenticalBundles() throws {
        let first = try Self.bundle()
        let out = try TestSupport.temporaryDirectory("linux-bundle-2").appendingPathComponent("again")
        defer { try? FileManager.default.removeItem(at: out.deletingLastPathComponent()) }
        let second = try LinuxGuestBuilder(options: .init(output: out)).build()
        for file in [GuestBundle.kernelFile, GuestBundle.initrdFile, GuestBundle.cmdlineFile, GuestBundle.manifestFile] {
            #expect(try TestSupport.sha256(first.directory.appendingPathComponent(file)) == TestSupport.sha256(second.directory.appendingPathComponent(file)), "\(file) differs")
        }
        #expect(first.manifest.modules.contains("sev_guest"))
    }
}

/// The container-style configuration issue 6 uses: argv, Env, WorkingDir (created), User, app console.
@Suite struct InitConfigBootTests {
    @Test func configuredCommandRunsWithEnvWorkdirAndUser() throws {
        let scratch = try TestSupport.temporaryDirectory("config-boot")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let kernel = try LinuxKernel.fetch(release: nil, cache: DebianPackageCache(root: DebianPackageCache.defaultRoot()), progress: { _ in })
        let initBinary = scratch.appendingPathComponent("init")
        try InitProgram.compile(source: try InitProgram.locateSource(), to: initBinary)
        var tree = InitramfsTree()
        try tree.addFile(".cvm/bin/busybox", .file(URL(fileURLWithPath: "/bin/busybox")), permissions: 0o755)
        try tree.addFile("etc/passwd", .bytes(Array("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n".utf8)))
        let config = InitConfig(arguments: ["busybox", "sh", "-c", "echo \"greeting=$GREETING\"; echo \"cwd=$(pwd)\"; echo \"uid=$(busybox id -u) home=$HOME\"; exit 4"],
                                environment: ["GREETING=hello world", "PATH=/.cvm/bin"], workingDirectory: "/app/data", user: "app")
        try GuestInit.install(into: &tree, initBinary: initBinary, config: config, modulePaths: [])
        try GuestInit.seal(&tree)
        let initrd = scratch.appendingPathComponent("initrd")
        try tree.write(to: try GzipFileSink(url: initrd))
        let arguments = ["qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-no-reboot", "-nographic",
                         "-kernel", kernel.image.path, "-initrd", initrd.path, "-append", "console=ttyS0 panic=-1",
                         "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        let result = try TestSupport.shell(arguments.map(TestSupport.quote).joined(separator: " ") + " </dev/null", timeout: 300)
        #expect(result.status == (4 << 1) | 1, "\(result.output.suffix(2000))")
        #expect(result.output.contains("greeting=hello world"))
        #expect(result.output.contains("cwd=/app/data"))
        #expect(result.output.contains("uid=1000 home=/home/app"))
    }
}
