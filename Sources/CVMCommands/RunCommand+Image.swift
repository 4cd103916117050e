import Foundation
import GuestImage
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

    /// The bundle of `image` from the cache, built first when missing; its manifest's measurement table
    /// is computed for `firmware`, the launch's OVMF when it has the kernel-hashes table.
    func containerImageBundle(_ image: ImageSource, firmware: String?) throws -> GuestBundle {
        var options = try ImageCommand.Build.OCI.builderOptions(source: image, platform: "linux/amd64", firmware: nil,
                                                                   maxImageContent: maxImageContent)
        options.firmware = firmware.map { URL(fileURLWithPath: $0) }
        if let attestURL {
            options.attestation = try AttestationTargetResolution.target(url: attestURL, key: attestKey)
            printError("cvm run: the guest attests to \(options.attestation?.url ?? attestURL) before its Entrypoint runs (relying-party key \(options.attestation?.relyingPartyKey.prefix(16) ?? "")… pinned in the initrd)")
            if !mode.isConfidential {
                printError("cvm run: notice: mode \(mode.rawValue) gives the guest no SEV-SNP report: the relying party will refuse it and the container will not start")
            }
        }
        let cache = OCIBundleCache(cacheRoot: Self.cacheDirectory)
        let (bundle, cached) = try mappingImageErrors {
            try cache.bundle(for: options) { printError("cvm run: building: \($0)") }
        }
        printError("cvm run: image \(bundle.manifest.image?.digest ?? "?") → bundle \(bundle.directory.path)\(cached ? " (cached)" : "")")
        return bundle
    }

    /// A bundle run with `--attest URL` must have been built to attest there: the URL is in its measured initrd.
    func checkBundleAttestation(_ bundle: GuestBundle) throws {
        let built = bundle.manifest.annotations["attestation.url"]
        guard let attestURL else {
            if let built { printError("cvm run: the bundle attests to \(built) before its command runs (built with --attest)") }
            return
        }
        let wanted = try AttestationTargetResolution.urls(for: attestURL).guest
        guard let built else {
            throw CLIFailure.badInput("--attest: \(bundle.directory.path) was built without an attestation step; rebuild it with cvm image build oci IMAGE --attest \(attestURL), or run the image itself")
        }
        guard built == wanted else {
            throw CLIFailure.badInput("--attest: the bundle attests to \(built) (fixed in its measured initrd), not \(wanted); rebuild it to change the relying party")
        }
    }

    /// After an "oci" bundle's run: what the init said went wrong (its markers are in the kernel log).
    func reportContainerGuestRun(_ spec: LaunchSpec) {
        guard spec.applicationSerial == .stdio, case .file(let kernelLog) = spec.console, let text = try? String(contentsOfFile: kernelLog, encoding: .utf8) else { return }
        for line in text.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("cvm-attest: ") {
                printError("cvm: guest \(line)")
                continue
            }
            guard let marker = GuestInit.Marker.parse(String(line)) else { continue }
            switch marker.event {
            case "initramfs-truncated":
                printError("cvm: the guest's initramfs was truncated while unpacking (too little --memory?); the init ran nothing")
            case "error":
                printError("cvm: guest init: \(marker.fields["message"] ?? String(line))")
            case "attestation-failed":
                printError("cvm: attestation failed: \(marker.fields["reason"] ?? "see the kernel log \(kernelLog)") (exit \(marker.fields["code"] ?? "122"))")
            case "attestation-ok":
                printError("cvm: attestation passed; the secrets were in \(marker.fields["secrets"] ?? "/run/secrets") before the container started")
            case "console-fallback":
                printError("cvm: guest init: no second serial port; the app's output went to the kernel console \(kernelLog)")
            default:
                break
            }
        }
    }
}
