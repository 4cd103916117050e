import Crypto
import Foundation
import OCIImage
import SEVABI

/// Bundles built from container images, kept under CACHE/oci-bundles/KEY, where KEY hashes the image
/// digest and every builder input that changes the bundle (platform, kernel version request, cmdline,
/// the init's source, firmware and measurement table, compression, tool version). `cvm run IMAGE` uses
/// it so that a second run boots at once.
public struct OCIBundleCache: Sendable {
    public let root: URL

    /// `cacheRoot` is $CVM_CACHE or ~/.cache/cvmkit (`DebianPackageCache.defaultRoot()`).
    public init(cacheRoot: URL = DebianPackageCache.defaultRoot()) {
        root = cacheRoot.appendingPathComponent("oci-bundles")
    }

    /// The cache key of `options` for the image it names (the image is opened and its digests checked).
    public func key(for options: OCIGuestBuilder.Options) throws -> String {
        let image = try ContainerImage.open(options.source, platform: options.platform)
        let initSource = try InitProgram.locateSource(explicit: options.initSource)
        let lines = [
            "cvm oci bundle cache 1",
            "image \(image.digest)",
            "platform \(options.platform)",
            "kernel \(options.kernelVersion ?? "linux-image-amd64 dependency at first build")",
            "cmdline \(OCIGuestBuilder.bundleCmdline(options.cmdline))",
            "init \(try PartDigest.of(fileAt: initSource, file: InitProgram.sourceName).sha256) protocol \(GuestInit.version)",
            "firmware \(try options.firmware.map { try PartDigest.of(fileAt: $0, file: $0.lastPathComponent).sha256 } ?? "none")",
            "vcpus \(options.vcpuCounts.map(String.init).joined(separator: ",")) types \(options.vcpuTypes.map(\.description).joined(separator: ","))",
            "gzip \(options.gzipLevel)",
            "attest \(try options.attestation.map { "\($0.url) \($0.relyingPartyKey) helper \(try PartDigest.of(fileAt: try InitProgram.attestSource(besideInit: initSource), file: InitProgram.attestSourceName).sha256)" } ?? "none")",
            "tool \(options.tool)",
        ]
        return String(Array(SHA256.hash(data: Array(lines.joined(separator: "\n").utf8))).hexString.prefix(32))
    }

    /// A verified cached bundle for `options` (whose `output` is replaced by the cache location), or a
    /// fresh build stored there.
    public func bundle(for options: OCIGuestBuilder.Options, progress: (String) -> Void = { _ in }) throws -> (bundle: GuestBundle, cached: Bool) {
        let directory = root.appendingPathComponent(try key(for: options))
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent(GuestBundle.manifestFile).path),
           let bundle = try? GuestBundle.load(from: directory) {
            return (bundle, true)
        }
        var options = options
        options.output = directory
        return (try OCIGuestBuilder(options: options).build(progress: progress), false)
    }
}
