import ArgumentParser
import Foundation
import GuestImage
import Launch
import Measurement
import OCIImage

extension ImageCommand.Build {
    /// `cvm image build oci SOURCE`: a Docker/OCI image as a Linux guest bundle.
    struct OCI: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "oci",
            abstract: "Build a guest bundle from a Docker or OCI image (kernel, initramfs with the image's root and cvm-init, cmdline).",
            discussion: """
            SOURCE is docker-archive:FILE[:TAG], oci-archive:FILE[:TAG], oci:DIR[:TAG] or a bare path; the \
            format is detected from the content and every digest is checked. The layers are flattened in \
            memory and streamed into a reproducible initramfs (cpio newc, mtime 0, gzip -n), so the same \
            image gives the same bytes. The guest runs the image's Entrypoint + Cmd with its Env (PATH \
            defaulted), WorkingDir (created if missing) and User; the command's output goes to the second \
            serial port (ttyS1), the kernel log to the first (ttyS0); the command's exit code ends QEMU. \
            Our init sits at /.cvm/init (rdinit= on the cmdline), apart from the image's files.

            The kernel, initrd and cmdline are covered by the SEV launch measurement only with measured \
            direct boot: give --firmware with an OVMF built from OvmfPkg/AmdSev (it has the SEV hashes \
            table) and the manifest lists the expected SEV, SEV-ES and SNP measurements per vCPU count and \
            type. Without such firmware, the manifest and this command say they are NOT covered.

            Examples:
              cvm image build oci docker-archive:app.tar --out app-guest
              cvm image build oci oci:./layout:1.0 --firmware OVMF.amdsev.fd \\
                  --vcpus 1,2,4 --cpu EPYC-Milan
              cvm run app-guest --accel tcg
              cvm run docker-archive:app.tar     # builds the bundle itself
            """
        )

        @Argument(help: "The image: docker-archive:FILE, oci-archive:FILE, oci:DIR[:TAG] or a path.") var source: String
        @Option(help: "Bundle directory to write (replaced if it holds a bundle).") var out: String = "oci-guest"
        @Option(help: "Platform to take from a multi-platform index (os/arch[/variant]).") var platform = "linux/amd64"
        @Option(help: "Kernel release, e.g. 6.1.0-56-amd64 (default: what the first kernel metapackage apt offers depends on: linux-image-amd64, linux-image-virtual, linux-image-generic).") var kernelVersion: String?
        @Option(help: "Kernel command line (rdinit=/.cvm/init is added unless given).") var cmdline: String = OCIGuestBuilder.defaultCmdline
        @Option(help: "OVMF image to predict launch measurements for (needs the SEV kernel-hashes table).") var firmware: String?
        @Option(help: "vCPU counts for the measurement table: a number, list or range.") var vcpus = "1,2,4,8"
        @Option(help: "vCPU models (QEMU -cpu names) for the measurement table, comma separated.") var cpu = LaunchMeasurementRecord.defaultVCPUTypes.joined(separator: ",")
        @Option(help: .hidden) var vcpuTypes: String?
        @Option(help: "Package cache directory (default: $CVM_CACHE or ~/.cache/cvmkit).") var cache: String?
        @Option(help: "The init's C source (default: guest/init/cvm-init.c of this checkout).") var initSource: String?
        @Option(help: ArgumentHelp(OCI.maxImageContentHelp)) var maxImageContent: String?
        @Option(help: "Attest to the relying party at this URL (cvm attest serve; http://127.0.0.1:PORT becomes 10.0.2.2 in the guest) before the Entrypoint runs; the URL and the relying party's key go into the measured initrd.") var attest: String?
        @Option(help: "The relying party's X25519 public key (hex) for --attest (default: fetched from URL/kbs/v0/public-key).") var attestKey: String?
        @Flag(help: "Print the bundle path and manifest as JSON; progress goes to stderr.") var json = false

        struct Output: Encodable {
            let bundle: String
            let manifest: BundleManifest
        }

        func run() async throws {
            let image = try mappingImageErrors { try ImageSource(parsing: source) }
            var options = try Self.builderOptions(source: image, platform: platform, firmware: firmware, vcpus: vcpus, vcpuTypes: vcpuTypes ?? cpu,
                                                  maxImageContent: maxImageContent)
            options.output = URL(fileURLWithPath: out).standardizedFileURL
            options.kernelVersion = kernelVersion
            options.cmdline = cmdline
            if let cache { options.cache = DebianPackageCache(root: URL(fileURLWithPath: cache)) }
            if let initSource { options.initSource = URL(fileURLWithPath: initSource) }
            if let attest { options.attestation = try AttestationTargetResolution.target(url: attest, key: attestKey) }
            else if attestKey != nil { throw CLIFailure.badInput("--attest-key goes with --attest URL") }
            let bundle = try mappingImageErrors {
                try OCIGuestBuilder(options: options).build { printError("cvm image build oci: \($0)") }
            }
            if json {
                try printJSON(Output(bundle: bundle.directory.path, manifest: bundle.manifest))
            } else {
                print(Self.render(bundle), terminator: "")
            }
        }

        /// Options shared with `cvm run IMAGE`; the output directory is the caller's.
        static let maxImageContentHelp = """
            Most bytes of file content the flattened image may hold, e.g. 4G or 16G (default \(FlattenLimits.defaultMaxStoredBytes >> 30)G). \
            It bounds what a compressed layer can expand to on the temporary disk; see docs/OCI.md.
            """

        /// The content limit a user asked for, in bytes; the default when none was given.
        static func contentLimit(_ text: String?) throws -> Int64 {
            guard let text else { return FlattenLimits.defaultMaxStoredBytes }
            guard let mebibytes = MemorySize.mebibytes(text), mebibytes > 0 else {
                throw CLIFailure.badInput("invalid --max-image-content '\(text)' (use e.g. 4G or 16G)")
            }
            return Int64(mebibytes) << 20
        }

        static func builderOptions(source: ImageSource, platform: String, firmware: String?, vcpus: String = "1,2,4,8",
                                   vcpuTypes: String = LaunchMeasurementRecord.defaultVCPUTypes.joined(separator: ","),
                                   maxImageContent: String? = nil) throws -> OCIGuestBuilder.Options {
            let contentLimit = try contentLimit(maxImageContent)
            return try mappingImageErrors {
                let counts = try parseIntegerList(vcpus)
                for count in counts where !(1...LaunchMeasurer.maxVCPUs).contains(count) {
                    throw MeasurementError.vcpuCountOutOfRange(count, max: LaunchMeasurer.maxVCPUs)
                }
                let types = try vcpuTypes.split(separator: ",").map { try VCPUType(named: $0.trimmingCharacters(in: .whitespaces)) }
                let firmwareURL = firmware.map { URL(fileURLWithPath: $0).standardizedFileURL }
                if let firmwareURL, !FileManager.default.isReadableFile(atPath: firmwareURL.path) {
                    throw CLIFailure.badInput("cannot read firmware \(firmwareURL.path)")
                }
                var limits = FlattenLimits()
                limits.maxStoredBytes = contentLimit
                return OCIGuestBuilder.Options(output: URL(fileURLWithPath: "."), source: source,
                                               platform: try Platform(parsing: platform), firmware: firmwareURL,
                                               vcpuCounts: counts, vcpuTypes: types, limits: limits, tool: "cvm \(CVMVersion.string)")
            }
        }

        static func render(_ bundle: GuestBundle) -> String {
            let manifest = bundle.manifest
            var lines = ["bundle \(bundle.directory.path)"]
            if let image = manifest.image {
                lines.append("  image    \(image.digest) (\(image.format)\(image.platform.map { ", " + $0 } ?? "")) from \(image.source)")
                let argv = (image.entrypoint ?? []) + (image.cmd ?? [])
                lines.append("  runs     \(argv.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " "))")
                lines.append("  user     \(image.user ?? "root")   workdir \(image.workingDir ?? "/")   \(image.entries) entries, \(image.fileBytes) bytes of files")
            }
            for name in [GuestBundle.kernelFile, GuestBundle.initrdFile, GuestBundle.cmdlineFile] {
                guard let part = manifest.parts[name] else { continue }
                lines.append("  \(name.padding(toLength: 8, withPad: " ", startingAt: 0)) \(part.size) bytes  sha256 \(part.sha256)")
            }
            lines.append("  kernel   \(manifest.versions["kernel"] ?? "?"); console \(manifest.boot.console), app output \(manifest.boot.appConsole); at least \(manifest.boot.minimumMemoryMiB) MiB")
            lines.append("  cmdline  \(bundle.cmdline)")
            if let url = manifest.annotations["attestation.url"] {
                lines.append("  attests  to \(url) (relying-party key \(manifest.annotations["attestation.relyingPartyKey"] ?? "?")) before the Entrypoint; secrets in /run/secrets")
            }
            if let measurement = manifest.launchMeasurement {
                lines.append("  launch measurement: \(measurement.statement)")
                for row in measurement.measurements {
                    let vcpus = row.vcpus.map { "\($0) vCPU" } ?? "any vCPUs"
                    lines.append("    \(row.mode.padding(toLength: 8, withPad: " ", startingAt: 0)) \(vcpus.padding(toLength: 10, withPad: " ", startingAt: 0)) \((row.vcpuType ?? "").padding(toLength: 11, withPad: " ", startingAt: 0)) \(row.measurement)")
                }
                for (mode, reason) in measurement.unavailableModes.sorted(by: { $0.key < $1.key }) {
                    lines.append("    \(mode): not with this firmware (\(reason))")
                }
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }
}

/// Turns image and builder errors into the CLI's exit statuses: 3 for a missing tool or package (this
/// host cannot do it), 2 for everything about the input.
func mappingImageErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as GuestImageError {
        switch error {
        case .missingTool, .packageNotFound: throw CLIFailure.unsupportedHere(error.description)
        default: throw CLIFailure.badInput(error.description)
        }
    } catch let error as ImageError {
        if case .toolMissing = error { throw CLIFailure.unsupportedHere(error.description) }
        throw CLIFailure.badInput(error.description)
    } catch let error as FlattenError {
        throw CLIFailure.badInput(error.description)
    } catch let error as TarError {
        throw CLIFailure.badInput(error.description)
    } catch let error as OCIGuestError {
        throw CLIFailure.badInput(error.description)
    } catch let error as MeasurementError {
        throw CLIFailure.badInput(error.description)
    }
}
