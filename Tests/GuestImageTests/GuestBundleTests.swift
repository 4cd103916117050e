import Crypto
import Foundation
import Testing
@testable import GuestImage

@Suite struct GuestBundleTests {
    static func manifestTemplate() -> BundleManifest {
        BundleManifest(kind: "test", versions: ["kernel": "test"], boot: .init(minimumMemoryMiB: 64),
                       build: .init(command: "test", tool: "tests", steps: ["made by a test"],
                                    inputs: [.init(name: "x", sha256: String(repeating: "0", count: 64), origin: "test")]))
    }

    static func makeBundle(in scratch: URL, name: String = "bundle") throws -> GuestBundle {
        let kernel = scratch.appendingPathComponent("k"), initrd = scratch.appendingPathComponent("i")
        try Data("kernel bytes".utf8).write(to: kernel)
        try Data((0..<5000).map { UInt8(truncatingIfNeeded: $0) }).write(to: initrd)
        return try GuestBundle.write(to: scratch.appendingPathComponent(name), kernel: kernel, initrd: initrd,
                                     cmdline: "console=ttyS0 cvm.run=\"echo hi\"", manifest: manifestTemplate())
    }

    @Test func writtenBundleLoadsWithDigestsOfEachPart() throws {
        let scratch = try TestSupport.temporaryDirectory("bundle")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let bundle = try Self.makeBundle(in: scratch)
        let loaded = try GuestBundle.load(from: bundle.directory)
        #expect(loaded.cmdline == "console=ttyS0 cvm.run=\"echo hi\"")
        #expect(try String(contentsOf: loaded.cmdlineURL, encoding: .utf8) == loaded.cmdline, "no trailing newline")
        let kernelBytes = Data("kernel bytes".utf8)
        #expect(loaded.manifest.parts["kernel"]?.sha256 == Array(SHA256.hash(data: kernelBytes)).hexString)
        #expect(loaded.manifest.parts["kernel"]?.sha384 == Array(SHA384.hash(data: kernelBytes)).hexString)
        #expect(loaded.manifest.parts["initrd"]?.size == 5000)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: bundle.directory.path)) == ["kernel", "initrd", "cmdline", "manifest.json"])
    }

    @Test func sameInputsGiveTheSameManifestBytes() throws {
        let scratch = try TestSupport.temporaryDirectory("bundle-repro")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let one = try Self.makeBundle(in: scratch, name: "one"), two = try Self.makeBundle(in: scratch, name: "two")
        #expect(try Data(contentsOf: one.manifestURL) == Data(contentsOf: two.manifestURL))
    }

    @Test func aTamperedInitrdIsRefusedNamingThePart() throws {
        let scratch = try TestSupport.temporaryDirectory("bundle-tamper")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let bundle = try Self.makeBundle(in: scratch)
        var bytes = try [UInt8](Data(contentsOf: bundle.initrdURL))
        bytes[100] ^= 0x01
        try Data(bytes).write(to: bundle.initrdURL)
        do {
            _ = try GuestBundle.load(from: bundle.directory)
            Issue.record("a modified initrd was accepted")
        } catch let error as GuestImageError {
            guard case .digestMismatch(let part, let algorithm, _, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(part == "initrd" && algorithm == "SHA-256")
            #expect(error.description.contains("'initrd' was modified"))
        }
        #expect(throws: Never.self) { try GuestBundle.load(from: bundle.directory, verify: false) }
    }

    @Test func anEditedCmdlineOrMissingPartIsRefused() throws {
        let scratch = try TestSupport.temporaryDirectory("bundle-cmdline")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let bundle = try Self.makeBundle(in: scratch)
        try Data("console=ttyS0 init=/bin/sh".utf8).write(to: bundle.cmdlineURL)
        #expect(throws: GuestImageError.self) { try GuestBundle.load(from: bundle.directory) }
        try FileManager.default.removeItem(at: bundle.kernelURL)
        #expect(throws: GuestImageError.self) { try GuestBundle.load(from: bundle.directory) }
        #expect(throws: GuestImageError.self) { try GuestBundle.load(from: scratch) }
    }

    @Test func writingOverANonBundleDirectoryIsRefused() throws {
        let scratch = try TestSupport.temporaryDirectory("bundle-clobber")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let precious = scratch.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: precious, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: precious.appendingPathComponent("notes.txt"))
        #expect(throws: GuestImageError.self) { try Self.makeBundle(in: scratch, name: "home") }
        #expect(FileManager.default.fileExists(atPath: precious.appendingPathComponent("notes.txt").path))
    }
}
