import Foundation
import HostProbe
@testable import Launch

/// A 64 KiB BIOS image that QEMU runs in a fraction of a second under TCG: it prints lines on the
/// first serial port (0x3f8) and leaves through isa-debug-exit with a chosen code, or spins forever.
enum TestGuest {
    static func bios(lines: [String], exitCode: UInt8?) -> [UInt8] {
        QEMUGuestProbe.biosImage(printing: lines, exitCode: exitCode)
    }

    /// Writes the BIOS into `directory` and returns a spec that boots it under TCG.
    static func spec(in directory: URL, lines: [String], exitCode: UInt8?, name: String = "test-guest") throws -> (LaunchSpec, String) {
        let path = directory.appendingPathComponent("\(name).bios").path
        try Data(bios(lines: lines, exitCode: exitCode)).write(to: URL(fileURLWithPath: path))
        let spec = LaunchSpec(name: name, boot: .disk(path: "/dev/null", format: "raw"), memoryMiB: 32, accelerator: .tcg)
        return (spec, path)
    }

    /// QEMU arguments for the BIOS: the renderer's output with the firmware swapped for this image.
    static func arguments(biosPath: String, qmpSocket: String? = nil, extraSerial: Bool = false) -> [String] {
        var args = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", "32M", "-nodefaults", "-display", "none",
                    "-bios", biosPath, "-chardev", "stdio,id=console0,signal=off", "-serial", "chardev:console0",
                    "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        if let qmpSocket { args += ["-qmp", "unix:\(qmpSocket),server=on,wait=off"] }
        if extraSerial { args += ["-serial", "none"] }
        return args
    }

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-launch-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
