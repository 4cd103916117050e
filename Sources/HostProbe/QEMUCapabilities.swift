/// What the installed QEMU offers, read from the binary itself (never assumed from a version number).
public struct QEMUCapabilities: Sendable, Hashable, Codable {
    public var binary: String
    public var versionLine: String
    public var version: DottedVersion?
    public var accelerators: [String]
    public var objectTypes: [String]
    /// Properties of `sev-snp-guest`, when QEMU has it.
    public var snpGuestProperties: [String]
    public var machineTypes: [String]

    public var supportsSEVGuest: Bool { objectTypes.contains("sev-guest") }
    public var supportsSNPGuest: Bool { objectTypes.contains("sev-snp-guest") }
    /// `tdx-guest` (QEMU ≥ 10.1 built with TDX support).
    public var supportsTDXGuest: Bool { objectTypes.contains("tdx-guest") }
    public var supportsMemfdBackend: Bool { objectTypes.contains("memory-backend-memfd") }
    public var hasKVMAccelerator: Bool { accelerators.contains("kvm") }

    /// QEMU 7.2 measures direct kernel boot wrongly with kernel-hashes=on on its own q35 machine type;
    /// the pc-q35-7.1 machine type avoids it.
    public var needsKernelHashesMachineWorkaround: Bool {
        guard let version else { return false }
        return version >= DottedVersion([7, 2]) && version < DottedVersion([8, 0])
    }

    /// Queries `binary` with `--version`, `-accel help`, `-object help`, `-machine help`; nil when it is not installed.
    public static func detect(using runner: any CommandRunner, binary: String = "qemu-system-x86_64") -> QEMUCapabilities? {
        guard let versionOutput = runner.run([binary, "--version"], timeout: 20), versionOutput.status == 0 else { return nil }
        let versionLine = versionOutput.stdout.split(separator: "\n").first.map(String.init) ?? ""
        let accelerators = listing(runner.run([binary, "-accel", "help"], timeout: 20))
        let objects = listing(runner.run([binary, "-object", "help"], timeout: 20))
        var snpProperties: [String] = []
        if objects.contains("sev-snp-guest") {
            snpProperties = listing(runner.run([binary, "-object", "sev-snp-guest,help"], timeout: 20))
                .compactMap { $0.split(separator: "=").first.map(String.init) }
        }
        let machines = listing(runner.run([binary, "-machine", "help"], timeout: 20))
            .compactMap { $0.split(separator: " ").first.map(String.init) }
        return QEMUCapabilities(binary: binary, versionLine: versionLine,
                                version: DottedVersion(parsing: versionLine),
                                accelerators: accelerators, objectTypes: objects,
                                snpGuestProperties: snpProperties, machineTypes: machines)
    }

    /// The indented or bare item lines of a QEMU `help` listing, without its heading lines.
    static func listing(_ output: CommandOutput?) -> [String] {
        guard let output, output.status == 0 else { return [] }
        return output.stdout.split(separator: "\n").compactMap { line in
            let trimmed = String(line).stripping(" \t")
            guard !trimmed.isEmpty, !trimmed.hasSuffix(":") else { return nil }
            return trimmed
        }
    }
}

import Foundation
import HostOS

/// Boots a 16-byte reset-vector guest that writes to isa-debug-exit: proof that QEMU can run real
/// instructions with a given accelerator and CPU model, in about a second, with no kernel.
public enum QEMUGuestProbe {
    /// The marker the guest writes; QEMU then exits with (marker << 1) | 1.
    public static let marker: UInt8 = 0x2a
    public static var expectedExitStatus: Int32 { Int32(marker) << 1 | 1 }

    /// A 64 KiB BIOS image: halts everywhere except the reset vector at its last 16 bytes, which does
    /// `mov al, 0x2a; out 0xf4, al; hlt; jmp $-1`.
    public static func biosImage() -> [UInt8] {
        var image = [UInt8](repeating: 0xF4, count: 0x10000)
        let resetVector: [UInt8] = [0xB0, marker, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD]
        image.replaceSubrange(0xFFF0..<(0xFFF0 + resetVector.count), with: resetVector)
        return image
    }

    /// A 64 KiB BIOS image that is a whole guest: it prints `lines` on the first serial port (0x3f8),
    /// then leaves through isa-debug-exit with `exitCode`, or halts forever when it is nil. Tests and
    /// benchmarks use it as the smallest guest QEMU can run.
    public static func biosImage(printing lines: [String], exitCode: UInt8?) -> [UInt8] {
        var code: [UInt8] = [0xBA, 0xF8, 0x03] // mov dx, 0x3f8
        for byte in lines.map({ $0 + "\n" }).joined().utf8.prefix(0x5000) {
            code += [0xB0, byte, 0xEE] // mov al, byte; out dx, al
        }
        if let exitCode { code += [0xB0, exitCode, 0xE6, 0xF4] } // mov al, code; out 0xf4, al
        code += [0xF4, 0xEB, 0xFD] // hlt; jmp back to the hlt
        var image = [UInt8](repeating: 0xF4, count: 0x10000)
        image.replaceSubrange(0..<code.count, with: code)
        // Reset vector (CS base 0xFFFF0000, IP 0xFFF0): near jump to IP 0, the start of the image.
        image.replaceSubrange(0xFFF0..<0xFFF3, with: [0xE9, 0x0D, 0x00])
        return image
    }

    /// The file name every probe BIOS gets, so recorded hosts can match the command whatever the directory.
    public static let biosFileName = "cvmkit-probe-bios.bin"

    /// Writes the probe BIOS into a private temporary directory, calls `body` with its path, removes it.
    public static func withBIOS<T>(_ body: (String) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cvmkit-probe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent(biosFileName).path
        try Data(biosImage()).write(to: URL(fileURLWithPath: path))
        return try body(path)
    }

    public static func arguments(binary: String, accelerator: String, cpuModel: String?, biosPath: String) -> [String] {
        var arguments = [binary, "-accel", accelerator, "-machine", "q35", "-m", "32", "-nodefaults", "-display", "none",
                         "-bios", biosPath, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01"]
        if let cpuModel { arguments += ["-cpu", cpuModel] }
        return arguments
    }

    public struct Outcome: Sendable, Hashable, Codable {
        public var accelerator: String
        public var cpuModel: String
        public var ran: Bool
        /// The last line QEMU printed on failure, or why it did not run.
        public var detail: String
    }

    public static func run(using runner: any CommandRunner, binary: String, accelerator: String, cpuModel: String?,
                           biosPath: String, timeout: Double = 15) -> Outcome {
        let label = cpuModel ?? "default"
        let arguments = Self.arguments(binary: binary, accelerator: accelerator, cpuModel: cpuModel, biosPath: biosPath)
        guard let output = runner.run(arguments, timeout: timeout) else {
            return Outcome(accelerator: accelerator, cpuModel: label, ran: false, detail: "\(binary) is not installed")
        }
        if output.status == expectedExitStatus {
            return Outcome(accelerator: accelerator, cpuModel: label, ran: true, detail: "guest ran to its exit marker")
        }
        if output.timedOut {
            return Outcome(accelerator: accelerator, cpuModel: label, ran: false, detail: "no exit within \(Int(timeout)) s (guest stalled)")
        }
        let lastLine = output.stderr.split(separator: "\n").last.map(String.init) ?? "exit status \(output.status)"
        return Outcome(accelerator: accelerator, cpuModel: label, ran: false, detail: String(lastLine.prefix(160)))
    }
}
