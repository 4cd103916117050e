import Foundation
import HostOS
import HostProbe

/// Disk images through qemu-img: a VM never writes its base image, it gets a qcow2 overlay whose
/// backing file is the base (`qemu-img create -f qcow2 -F FORMAT -b BASE overlay.qcow2`).
public struct VMDiskImage: Sendable {
    public var runner: any CommandRunner

    public init(runner: any CommandRunner = ProcessRunner()) {
        self.runner = runner
    }

    /// The image format qemu-img detects (raw, qcow2, vmdk, ...).
    public func format(of path: String) throws -> String {
        guard FileManager.default.isReadableFile(atPath: path) else { throw VMError.invalidInput("cannot read disk image \(path)") }
        let output = try run(["qemu-img", "info", "--output=json", path])
        guard let object = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
              let format = object["format"] as? String, !format.isEmpty else {
            throw VMError.invalidInput("qemu-img info did not report a format for \(path)")
        }
        return format
    }

    /// Creates `overlay` on top of `base`; `size` (qemu-img syntax, e.g. 20G) grows the virtual disk.
    public func createOverlay(at overlay: URL, base: String, baseFormat: String, size: String? = nil) throws {
        var arguments = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", baseFormat, "-b", base, overlay.path]
        if let size { arguments.append(size) }
        _ = try run(arguments)
        chmod(overlay.path, 0o600)
    }

    func run(_ arguments: [String]) throws -> String {
        try VMTool(runner: runner).run(arguments, hint: "apt-get install qemu-utils")
    }
}
