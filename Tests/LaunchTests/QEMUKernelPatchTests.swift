import Foundation
import Testing
@testable import Measurement

/// QEMUKernelPatch against QEMU itself: a bzImage whose real-mode entry is `jmp $` is booted under TCG
/// with -kernel/-initrd/-append; QEMU's option ROM copies the setup sectors, edited by x86_load_linux,
/// to 0x10000 and jumps there, where the CPU spins; the monitor's pmemsave then dumps them. The host's
/// QEMU 7.2 and, when the Debian 13 root is there, QEMU 11.1 (what TDX hosts run) must both produce
/// exactly the bytes cvm predicts, for several memory sizes and command lines.
@Suite struct QEMUKernelPatchTests {
    static let setupSize = 0x800

    /// setup_sects 3, boot protocol 2.15, LOADED_HIGH, XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G (or not).
    static func spinningKernel(above4G: Bool) -> [UInt8] {
        var image = [UInt8](repeating: 0, count: 0x3000)
        func put(_ at: Int, _ value: UInt64, _ count: Int) { for i in 0..<count { image[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) } }
        image[0x1F1] = 3
        image[0x1FE] = 0x55; image[0x1FF] = 0xAA
        image[0x200] = 0xEB; image[0x201] = 0xFE          // jmp $
        image.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        put(0x206, 0x20F, 2)
        image[0x211] = 0x01
        put(0x22C, 0x37FF_FFFF, 4)
        put(0x230, 0x20_0000, 4)
        put(0x236, above4G ? 0x3 : 0x1, 2)
        for i in setupSize..<image.count { image[i] = UInt8(truncatingIfNeeded: i &* 7) }
        return image
    }

    struct QEMU {
        let name: String
        /// chroot root, or nil for the host's QEMU.
        let root: String?
        func hostPath(_ inside: String) -> String { (root ?? "") + inside }
        var argv0: [String] { root.map { ["/usr/sbin/chroot", $0, "qemu-system-x86_64"] } ?? ["/usr/bin/qemu-system-x86_64"] }
    }

    static var qemus: [QEMU] {
        var found: [QEMU] = []
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64") { found.append(QEMU(name: "host QEMU", root: nil)) }
        if TrixieRoot.isAvailable, let root = try? TrixieRoot.path() { found.append(QEMU(name: "QEMU in the Debian 13 root", root: root)) }
        return found
    }

    /// Boots the kernel until its setup sectors are in place and returns them as QEMU edited them.
    static func setupAsQEMUHandsItOver(_ qemu: QEMU, kernel: [UInt8], initrdSize: Int, memory: String, append: String) throws -> [UInt8] {
        let inside = "/tmp/cvm-kpatch-\(UUID().uuidString)"
        let directory = qemu.hostPath(inside)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data(kernel).write(to: URL(fileURLWithPath: directory + "/kernel"))
        try Data(count: initrdSize).write(to: URL(fileURLWithPath: directory + "/initrd"))
        let process = Process()
        let input = Pipe()
        process.executableURL = URL(fileURLWithPath: qemu.argv0[0])
        process.arguments = Array(qemu.argv0.dropFirst()) + [
            "-M", "q35", "-m", memory, "-accel", "tcg", "-display", "none", "-nodefaults", "-monitor", "stdio",
            "-kernel", inside + "/kernel", "-initrd", inside + "/initrd", "-append", append]
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            try? input.fileHandleForWriting.write(contentsOf: Data("quit\n".utf8))
            process.waitUntilExit()
        }
        let dump = directory + "/setup.bin"
        for attempt in 0..<60 {
            let path = "\(inside)/setup-\(attempt).bin"
            try input.fileHandleForWriting.write(contentsOf: Data("pmemsave 0x10000 \(setupSize) \"\(path)\"\n".utf8))
            Thread.sleep(forTimeInterval: 0.5)
            guard let bytes = FileManager.default.contents(atPath: qemu.hostPath(path)), bytes.count == setupSize else { continue }
            // Copied once the header is there and carries QEMU's loader type.
            if Array(bytes[0x202..<0x206]) == Array("HdrS".utf8), bytes[0x210] == 0xB0 {
                try bytes.write(to: URL(fileURLWithPath: dump))
                return Array(bytes)
            }
        }
        throw QEMUKernelPatch.Failure.notBzImage("\(qemu.name) never placed the setup sectors at 0x10000")
    }

    @Test(.enabled(if: !qemus.isEmpty, "needs qemu-system-x86 (scripts/install-deps)"), .timeLimit(.minutes(10)),
          arguments: [("512M", 5000, "console=hvc0", true), ("2G", 123_456, "console=hvc0 vga=0x317", true),
                      ("4G", 4096, "quiet", true), ("4G", 1, "console=ttyS0", true), ("1G", 70_000, "vga=ext", false)])
    func theEditsAreQEMUs(memory: String, initrdSize: Int, append: String, above4G: Bool) throws {
        let kernel = Self.spinningKernel(above4G: above4G)
        let bytes = UInt64(memory.dropLast())! << (memory.hasSuffix("G") ? 30 : 20)
        let predicted = Array(try QEMUKernelPatch.patched(kernel, commandLine: append, initrdSize: initrdSize, memoryBytes: bytes)[0..<Self.setupSize])
        for qemu in Self.qemus {
            let actual = try Self.setupAsQEMUHandsItOver(qemu, kernel: kernel, initrdSize: initrdSize, memory: memory, append: append)
            let differing = actual.indices.filter { actual[$0] != predicted[$0] }.map { String($0, radix: 16) }
            #expect(differing.isEmpty, "\(qemu.name), -m \(memory), -append '\(append)': bytes differ at 0x\(differing.joined(separator: ", 0x"))")
        }
    }
}
