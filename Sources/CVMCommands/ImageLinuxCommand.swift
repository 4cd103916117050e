import ArgumentParser
import Foundation
import GuestImage

extension ImageCommand.Build {
    /// `cvm image build linux`: the minimal Linux guest bundle.
    struct Linux: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "linux",
            abstract: "Build the minimal Linux guest bundle (Debian kernel, busybox-static, cvm-init, attestation modules).",
            discussion: """
            The kernel comes from Debian's linux-image package, fetched with `apt-get download` into the \
            cache ($CVM_CACHE, else ~/.cache/cvmkit) and unpacked there; /boot is never touched. The \
            initramfs is a cpio newc archive written by cvm (sorted, mtime 0, sequential inodes) and \
            compressed with `gzip -n`, so the same inputs give the same bytes.

            Boot it with QEMU:
              qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot \\
                -kernel DIR/kernel -initrd DIR/initrd -append "$(cat DIR/cmdline)" \\
                -device isa-debug-exit,iobase=0xf4,iosize=0x04
            Add cvm.run="COMMAND" to -append to run a command; QEMU then exits with (code << 1) | 1.

            Examples:
              cvm image build linux --out linux-guest
              cvm image build linux --kernel-version 6.1.0-56-amd64 --json
            """
        )

        @Option(name: .long, help: "Bundle directory to write (replaced if it holds a bundle).")
        var out: String = "linux-guest"

        @Option(name: .long, help: "Kernel release, e.g. 6.1.0-56-amd64 (default: what the first kernel metapackage apt offers depends on: linux-image-amd64, linux-image-virtual, linux-image-generic).")
        var kernelVersion: String?

        @Option(name: .long, help: "Package cache directory (default: $CVM_CACHE or ~/.cache/cvmkit).")
        var cache: String?

        @Option(name: .long, help: "Static busybox binary to use.")
        var busybox: String = "/bin/busybox"

        @Option(name: .long, help: "The init's C source (default: guest/init/cvm-init.c of this checkout).")
        var initSource: String?

        @Option(name: .long, help: "Kernel command line stored in the bundle.")
        var cmdline: String = LinuxGuestBuilder.defaultCmdline

        @Flag(name: .long, help: "Print the bundle path and manifest as JSON; progress goes to stderr.")
        var json = false

        struct Output: Encodable {
            let bundle: String
            let manifest: BundleManifest
        }

        func run() async throws {
            var options = LinuxGuestBuilder.Options(
                output: URL(fileURLWithPath: out).standardizedFileURL,
                kernelVersion: kernelVersion,
                busybox: URL(fileURLWithPath: busybox),
                cmdline: cmdline,
                tool: "cvm \(CVMVersion.string)")
            if let cache { options.cache = DebianPackageCache(root: URL(fileURLWithPath: cache)) }
            if let initSource { options.initSource = URL(fileURLWithPath: initSource) }
            let bundle: GuestBundle
            do {
                bundle = try LinuxGuestBuilder(options: options).build { line in
                    printError("cvm image build linux: \(line)")
                }
            } catch let error as GuestImageError {
                switch error {
                case .missingTool, .packageNotFound: throw CLIFailure.unsupportedHere(error.description)
                default: throw CLIFailure.badInput(error.description)
                }
            }
            if json {
                try printJSON(Output(bundle: bundle.directory.path, manifest: bundle.manifest))
                return
            }
            print("bundle \(bundle.directory.path)")
            for name in [GuestBundle.kernelFile, GuestBundle.initrdFile, GuestBundle.cmdlineFile] {
                guard let part = bundle.manifest.parts[name] else { continue }
                print("  \(name.padding(toLength: 8, withPad: " ", startingAt: 0)) \(part.size) bytes  sha256 \(part.sha256)")
                print("  \(String(repeating: " ", count: 8)) sha384 \(part.sha384)")
            }
            print("  kernel   \(bundle.manifest.versions["kernel"] ?? "?") (\(bundle.manifest.versions["kernelPackage"] ?? "?"))")
            print("  modules  \(bundle.manifest.modules.joined(separator: " "))")
            if !bundle.manifest.modulesUnavailable.isEmpty {
                print("  not in this kernel: \(bundle.manifest.modulesUnavailable.joined(separator: " "))")
            }
            print("  cmdline  \(bundle.cmdline)")
        }
    }
}
