import Foundation
import Testing
@testable import GuestImage

/// `DebianPackageCache.unpack` from many threads at once: the suite's Linux-guest tests do exactly
/// that, and a scratch directory named by the process ID alone made them remove each other's work.
@Suite struct PackageUnpackTests {
    @Test func concurrentUnpacksOfOnePackageAllSucceedAndAgree() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-unpack-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let tree = root.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("DEBIAN"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("usr/share/demo"), withIntermediateDirectories: true)
        try "Package: demo\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n"
            .write(to: tree.appendingPathComponent("DEBIAN/control"), atomically: true, encoding: .utf8)
        // Enough files that extraction takes a while and unpacks overlap.
        for index in 0..<400 {
            try Data(repeating: UInt8(index & 0xFF), count: 4096).write(to: tree.appendingPathComponent("usr/share/demo/f\(index)"))
        }
        let deb = root.appendingPathComponent("demo_1.0_all.deb")
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/dpkg-deb")
        build.arguments = ["--build", "--root-owner-group", tree.path, deb.path]
        build.standardOutput = FileHandle.nullDevice
        try build.run()
        build.waitUntilExit()
        try #require(build.terminationStatus == 0)

        let cache = DebianPackageCache(root: root.appendingPathComponent("cache"))
        let package = DebianPackageCache.Package(name: "demo", version: "1.0", deb: deb, sha256: try PartDigest.of(fileAt: deb, file: "demo.deb").sha256)
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            do {
                let directory = try cache.unpack(package) { _ in }
                let files = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("usr/share/demo").path)
                results.add(files.count == 400 ? nil : "\(files.count) files")
            } catch {
                results.add("\(error)")
            }
        }
        #expect(results.problems.isEmpty, "\(results.problems)")
        #expect(results.count == 8)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("cache/unpacked").path).filter { $0.hasPrefix(".unpack-") }
        #expect(leftovers.isEmpty, "scratch directories left: \(leftovers)")
    }

    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var problems: [String] = []
        private(set) var count = 0
        func add(_ problem: String?) {
            lock.lock(); defer { lock.unlock() }
            count += 1
            if let problem { problems.append(problem) }
        }
    }
}
