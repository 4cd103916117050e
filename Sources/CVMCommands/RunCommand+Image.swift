import Foundation
import GuestImage
import HostOS
import HostProbe
import Launch
import OCIImage

/// `cvm run IMAGE`: a Docker/OCI image instead of a bundle directory. The image is built into a bundle
/// once (cached under $CVM_CACHE/oci-bundles by image digest and builder inputs), then launched like
/// any bundle, with the app's console (ttyS1) on standard output and the kernel log (ttyS0) in a file.
extension RunCommand {
    /// SOURCE as a container image: a transport prefix, a file (an image archive), or a directory that
    /// is an image layout rather than a bundle. Nil for a bundle directory.
    var containerImageSource: ImageSource? {
        guard let source else { return nil }
        if ["docker-archive:", "oci-archive:", "oci:"].contains(where: { source.hasPrefix($0) }) { return try? ImageSource(parsing: source) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else { return nil }
        let directory = URL(fileURLWithPath: source)
        if isDirectory.boolValue {
            let has = { FileManager.default.fileExists(atPath: directory.appendingPathComponent($0).path) }
            guard has("index.json") || (has("manifest.json") && !has(GuestBundle.kernelFile)) else { return nil }
        }
        return ImageSource(path: source)
    }

    /// The bundle of `image` from the cache, built first when missing. The manifest's measurement table
    /// is computed for the firmware this launch will use, when that firmware has the kernel-hashes table.
    func containerImageBundle(_ image: ImageSource, scratch: URL) throws -> GuestBundle {
        if mode.isConfidential && !dryRun {
            // Refuse before a possibly long build, with the same reasons the launch would give.
            do { try LaunchPlanner.requireHostSupport(for: mode) } catch let error as LaunchError {
                throw CLIFailure.unsupportedHere(error.description + ". Use --dry-run to prepare the launch for another host.")
            }
        }
        var options = try ImageCommand.Build.OCI.builderOptions(source: image, platform: "linux/amd64", firmware: nil,
                                                                   maxImageContent: maxImageContent)
        options.firmware = measuredBootFirmware(scratch: scratch).map { URL(fileURLWithPath: $0) }
        let cache = OCIBundleCache(cacheRoot: Self.cacheDirectory)
        let (bundle, cached) = try mappingImageErrors {
            try cache.bundle(for: options) { printError("cvm run: building: \($0)") }
        }
        printError("cvm run: image \(bundle.manifest.image?.digest ?? "?") → bundle \(bundle.directory.path)\(cached ? " (cached)" : "")")
        return bundle
    }

    /// The OVMF image this launch boots, when it has the SEV kernel-hashes table (measured direct boot).
    private func measuredBootFirmware(scratch: URL) -> String? {
        let request = FirmwareRequest(argument: firmware)
        let path: String?
        if case .path(let explicit) = request {
            path = explicit
        } else if mode.isConfidential {
            path = (try? LaunchPlanner.firmware(for: mode, request: request, stateDirectory: scratch))?.imagePath
        } else {
            path = nil
        }
        guard let path, FirmwareDiscovery.inspect(path, files: LocalFileSystem()).hasKernelHashesTable else { return nil }
        return path
    }

    /// Launches of "oci" bundles (an image, or a bundle directory built from one): the app console
    /// (ttyS1) on standard output, the kernel log (ttyS0) in a file beside the bundle; kernel hashes on
    /// when the firmware can measure them, and a plain statement on standard error of what the launch
    /// measurement covers. Other launches are left alone.
    func prepareContainerGuestLaunch(_ spec: inout LaunchSpec) throws {
        guard source != nil, case let .kernel(kernelPath, _, _) = spec.boot else { return }
        let bundleDirectory = URL(fileURLWithPath: kernelPath).deletingLastPathComponent()
        guard let bundle = try? GuestBundle.load(from: bundleDirectory, verify: false), bundle.manifest.kind == "oci" else { return }
        let kernelLog = bundleDirectory.path + ".kernel.log"
        spec.console = .file(kernelLog)
        spec.applicationSerial = .stdio
        printError("cvm run: app console (ttyS1) on standard output; kernel log (ttyS0) in \(kernelLog)")
        guard mode.isConfidential else { return }
        let firmwareImage = spec.firmware.imagePath
        let hasTable = firmwareImage.map { FirmwareDiscovery.inspect($0, files: LocalFileSystem()).hasKernelHashesTable } ?? false
        guard hasTable else {
            printError("notice: firmware \(firmwareImage ?? "?") has no SEV kernel-hashes table: kernel, initrd and cmdline are NOT covered by the launch measurement")
            return
        }
        spec.kernelHashes = true
        let record = bundle.manifest.launchMeasurement
        if extraArgs == nil, let expected = record?.measurement(mode: mode.rawValue, vcpus: vcpus, vcpuType: spec.effectiveCPUModel) {
            printError("cvm run: kernel-hashes=on; expected \(mode.rawValue) launch measurement (\(vcpus) vCPU, \(spec.effectiveCPUModel ?? "default CPU")): \(expected)")
        } else {
            printError("cvm run: kernel-hashes=on: kernel, initrd and cmdline are covered by the launch measurement (compute it with cvm measure --kernel/--initrd/--append)")
        }
    }

    /// After an "oci" bundle's run: what the init said went wrong (its markers are in the kernel log).
    func reportContainerGuestRun(_ spec: LaunchSpec) {
        guard spec.applicationSerial == .stdio, case .file(let kernelLog) = spec.console, let text = try? String(contentsOfFile: kernelLog, encoding: .utf8) else { return }
        for line in text.split(whereSeparator: \.isNewline) {
            guard let marker = GuestInit.Marker.parse(String(line)) else { continue }
            switch marker.event {
            case "initramfs-truncated":
                printError("cvm: the guest's initramfs was truncated while unpacking (too little --memory?); the init ran nothing")
            case "error":
                printError("cvm: guest init: \(marker.fields["message"] ?? String(line))")
            case "console-fallback":
                printError("cvm: guest init: no second serial port; the app's output went to the kernel console \(kernelLog)")
            default:
                break
            }
        }
    }
}
