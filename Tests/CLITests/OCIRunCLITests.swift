import Foundation
import Testing

/// `cvm run IMAGE` booted for real under TCG (two Linux boots in all, about 20-40 s each here).
@Suite(.serialized) struct OCIRunCLITests {
    /// The hello image prints its Env value and its WorkingDir (created by the init) on the app console,
    /// which is cvm's standard output; the kernel log goes to its own file; exit code 7 becomes cvm's status.
    @Test func theImagesCommandRunsWithItsEnvAndWorkdirAndItsExitCodeReachesTheHost() throws {
        let directory = try OCITestArchive.temporaryDirectory("hello-run")
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = try OCITestArchive.hello(in: directory, exitCode: 7)
        let environment = try OCITestArchive.environment(cache: directory.appendingPathComponent("cache"))
        let run = try CLIRun.cvm(["run", "docker-archive:" + image.path, "--mode", "none", "--accel", "tcg", "--timeout", "300"], environment: environment)
        #expect(run.status == 7, "\(run.stderr)")
        #expect(run.stdout.contains("greeting=hello from the image env"), "\(run.stdout)")
        #expect(run.stdout.contains("cwd=/srv/app"), "\(run.stdout)")
        #expect(!run.stdout.contains("Linux version"), "the kernel log stays off the app console")
        #expect(run.stderr.contains("not protected"))
        #expect(run.stderr.contains("guest exited with code 7"))

        let logLine = try #require(run.stderr.split(separator: "\n").first { $0.contains("kernel log (ttyS0) in ") })
        let logPath = String(try #require(logLine.components(separatedBy: "kernel log (ttyS0) in ").last))
        let kernelLog = try String(contentsOfFile: logPath, encoding: .utf8)
        #expect(kernelLog.contains("Linux version"))
        #expect(kernelLog.contains("cvm-init: ") && kernelLog.contains("run-start") && kernelLog.contains("console=/dev/ttyS1"))
        #expect(kernelLog.contains("run-exit code=7"))
        #expect(!kernelLog.contains("greeting="), "the app's output is not in the kernel log")

        let again = try CLIRun.cvm(["run", "docker-archive:" + image.path, "--dry-run"], environment: environment)
        #expect(again.status == 0)
        #expect(again.stderr.contains("(cached)"), "the second run uses the bundle built by the first: \(again.stderr)")
    }

    /// An initramfs that does not fit: `cvm run` refuses the memory up front; booted anyway with that
    /// memory (through --kernel), the kernel stops unpacking and cvm-init refuses to run with code 121.
    @Test func aTruncatedInitramfsIsRefusedByCvmRunAndByTheInit() throws {
        let directory = try OCITestArchive.temporaryDirectory("truncated")
        defer { try? FileManager.default.removeItem(at: directory) }
        // 160 MiB of zeros: a small initrd that unpacks beyond the 96 MiB tmpfs of a 192 MiB guest.
        let image = try OCITestArchive.make(in: directory, populate: "mkdir -p bin data && cp /bin/busybox bin/busybox && ln -s busybox bin/sh && head -c 160M /dev/zero > data/zeros",
                                            config: ["Cmd": ["/bin/sh", "-c", "echo should-not-run"]])
        let environment = try OCITestArchive.environment(cache: directory.appendingPathComponent("cache"))
        let refused = try CLIRun.cvm(["run", "docker-archive:" + image.path, "--memory", "192M", "--accel", "tcg"], environment: environment)
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("below the bundle's minimum"), "\(refused.stderr)")

        let bundleLine = try #require(refused.stderr.split(separator: "\n").first { $0.contains("→ bundle ") })
        let bundle = String(try #require(bundleLine.components(separatedBy: "→ bundle ").last))
        let cmdline = try String(contentsOfFile: bundle + "/cmdline", encoding: .utf8)
        let boot = try CLIRun.cvm(["run", "--kernel", bundle + "/kernel", "--initrd", bundle + "/initrd", "--append", cmdline,
                                   "--memory", "192M", "--accel", "tcg", "--timeout", "300"], environment: environment)
        #expect(boot.status == 121, "\(boot.stdout.suffix(3000))")
        #expect(boot.stdout.contains("initramfs-truncated"))
        #expect(!boot.stdout.contains("run-start") && !boot.stdout.contains("should-not-run"))
    }
}
