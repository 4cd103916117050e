import Crypto
import Foundation
import SEVABI

/// The Linux guest with cvm-workloads: the base bundle's initramfs followed by a second archive that
/// adds /bin/cvm-workloads (the kernel unpacks concatenated archives in order).
public enum LinuxWorkloadsBundle {
    public static let binaryName = "cvm-workloads"
    public static let guestPath = "/bin/cvm-workloads"

    public static func make(base: GuestBundle, workloads: URL, cacheDirectory: URL, rebuild: Bool) throws -> GuestBundle {
        let workloadsDigest = try PartDigest.of(fileAt: workloads, file: binaryName).sha256
        let baseDigest = base.manifest.parts[GuestBundle.initrdFile]?.sha256 ?? ""
        let key = Array(SHA256.hash(data: Data((baseDigest + workloadsDigest + (base.manifest.parts[GuestBundle.kernelFile]?.sha256 ?? "")).utf8))).hexString.prefix(16)
        let target = cacheDirectory.appendingPathComponent("linux-workloads-\(key)")
        if !rebuild, let cached = try? GuestBundle.load(from: target) { return cached }

        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-bench-linux-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        var tree = InitramfsTree()
        try tree.addFile(String(guestPath.dropFirst()), .file(workloads), permissions: 0o755)
        let extra = work.appendingPathComponent("workloads.cpio.gz")
        try tree.write(to: try GzipFileSink(url: extra))
        let combined = work.appendingPathComponent("initrd")
        var bytes = try Data(contentsOf: base.initrdURL)
        bytes.append(try Data(contentsOf: extra))
        try bytes.write(to: combined)

        var manifest = base.manifest
        manifest.build.command = "cvm bench (the Linux guest of cvm image build linux, plus cvm-workloads)"
        manifest.build.steps.append("initramfs: a second cpio newc + gzip -n archive with \(guestPath) appended to the first")
        manifest.build.inputs.append(.init(name: binaryName, sha256: workloadsDigest, origin: "Unikernel/build.sh --linux-workloads"))
        manifest.annotations["workloads"] = "\(guestPath) run=… (the unikernel's workloads as a static Linux process)"
        manifest.boot.minimumMemoryMiB = base.manifest.boot.minimumMemoryMiB + 1
        return try GuestBundle.write(to: target, kernel: base.kernelURL, initrd: combined, cmdline: base.cmdline, manifest: manifest)
    }
}
