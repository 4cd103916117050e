import Foundation
import GuestImage
import SEVABI
import Testing
@testable import Measurement

/// The Authenticode digest against osslsigncode (Debian), which prints the digest it calculates for a
/// signed image: Debian's signed kernel as shipped (SHA-256), and the same kernel re-signed here with a
/// throwaway key under SHA-384 and SHA-256 (its certificate table then sits at another offset and size).
@Suite struct AuthenticodeTests {
    static let osslsigncode: String? = ["/usr/bin/osslsigncode"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return output
    }

    /// "Calculated message digest : HEX" of `osslsigncode verify`.
    static func calculated(_ path: String) throws -> String? {
        let output = try run(try #require(osslsigncode), ["verify", "-in", path])
        return output.split(separator: "\n").first { $0.hasPrefix("Calculated message digest") }?
            .split(separator: ":").last?.trimmingCharacters(in: .whitespaces).lowercased()
    }

    @Test(.enabled(if: osslsigncode != nil, "needs osslsigncode (scripts/install-deps)"), .timeLimit(.minutes(10)))
    func debiansSignedKernelAndItsResignedCopiesMatchOsslsigncode() throws {
        let kernel = try LinuxKernel.fetch(release: nil, cache: DebianPackageCache(root: DebianPackageCache.defaultRoot()), progress: { _ in })
        let image = Array(try Data(contentsOf: kernel.image))
        let shipped = try #require(try Self.calculated(kernel.image.path), "osslsigncode printed no digest for \(kernel.image.path)")
        #expect(try Authenticode.sha256(image).hexString == shipped)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-authenticode-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (key, certificate) = (directory.appendingPathComponent("key.pem").path, directory.appendingPathComponent("cert.pem").path)
        _ = try Self.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                                              "-days", "2", "-subj", "/CN=cvm authenticode test"])
        let unsigned = directory.appendingPathComponent("unsigned").path
        _ = try Self.run(try #require(Self.osslsigncode), ["remove-signature", "-in", kernel.image.path, "-out", unsigned])
        for (name, ours) in [("sha384", Authenticode.sha384), ("sha256", Authenticode.sha256)] {
            let signed = directory.appendingPathComponent("signed-\(name)").path
            _ = try Self.run(try #require(Self.osslsigncode), ["sign", "-h", name, "-certs", certificate, "-key", key, "-in", unsigned, "-out", signed])
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: signed)))
            let oracle = try #require(try Self.calculated(signed), "osslsigncode printed no \(name) digest")
            #expect(try ours(bytes).hexString == oracle, "\(name)")
        }
    }

    @Test func everyTruncationIsRefusedWithoutATrap() throws {
        // A small PE32+ image: headers, one section, extra data and a certificate table.
        var image = [UInt8](repeating: 0, count: 0x600)
        image[0] = 0x4D; image[1] = 0x5A
        image[0x3C] = 0x80
        image.replaceSubrange(0x80..<0x84, with: [0x50, 0x45, 0, 0])
        image[0x86] = 1                       // one section
        image[0x94] = 240                     // SizeOfOptionalHeader
        let optional = 0x98
        image[optional] = 0x0B; image[optional + 1] = 0x02
        image[optional + 60] = 0x00; image[optional + 61] = 0x02  // SizeOfHeaders 0x200
        image[optional + 108] = 16            // NumberOfRvaAndSizes
        let certificate = optional + 112 + 32
        image[certificate] = 0x00; image[certificate + 1] = 0x05  // table at 0x500, 0x100 bytes
        image[certificate + 5] = 0x01
        let section = optional + 240
        image[section + 17] = 0x02            // SizeOfRawData 0x200
        image[section + 21] = 0x02            // PointerToRawData 0x200
        for i in 0x200..<0x600 { image[i] = UInt8(truncatingIfNeeded: i) }
        let ranges = try Authenticode.hashedRanges(image)
        #expect(ranges == [0..<(optional + 64), (optional + 68)..<certificate, (certificate + 8)..<0x200, 0x200..<0x400, 0x400..<0x500])
        for length in stride(from: 0, to: image.count, by: 7) {
            #expect(throws: Authenticode.Failure.self) { _ = try Authenticode.sha384(Array(image[0..<length])) }
        }
        var lying = image
        lying[section + 23] = 0x7F           // PointerToRawData far past the end
        #expect(throws: Authenticode.Failure.self) { _ = try Authenticode.sha384(lying) }
        lying = image
        lying[0x3C] = 0xFF; lying[0x3F] = 0xFF  // e_lfanew past the end
        #expect(throws: Authenticode.Failure.notPE("e_lfanew 0xff0000ff does not point at a PE signature")) { _ = try Authenticode.sha384(lying) }
    }
}
