import Foundation
import Testing
@testable import GuestImage

@Suite struct CpioWriterTests {
    /// A tree with every member kind newc can carry.
    static func sampleTree(fileOnDisk: URL) throws -> InitramfsTree {
        var tree = InitramfsTree()
        try tree.addDirectory("etc", permissions: 0o755)
        try tree.addFile("etc/motd", .bytes(Array("hello from cpio\n".utf8)), permissions: 0o644, uid: 1000, gid: 100)
        try tree.addFile("bin/tool", .file(fileOnDisk), permissions: 0o4755)
        try tree.addSymlink("bin/link", target: "tool")
        try tree.add(InitramfsEntry(path: "bin/hard1", kind: .hardlink(target: "bin/tool"), permissions: 0o755))
        try tree.add(InitramfsEntry(path: "usr/hard2", kind: .hardlink(target: "bin/hard1"), permissions: 0o755))
        try tree.add(InitramfsEntry(path: "dev/console", kind: .characterDevice(major: 5, minor: 1), permissions: 0o600))
        try tree.add(InitramfsEntry(path: "dev/sda", kind: .blockDevice(major: 8, minor: 0), permissions: 0o660, gid: 6))
        try tree.add(InitramfsEntry(path: "run/fifo", kind: .fifo, permissions: 0o644))
        try tree.addDirectory("/tmp/", permissions: 0o1777)
        return tree
    }

    @Test func listingByGNUCpioIsSortedWithModesOwnersAndLinks() throws {
        let scratch = try TestSupport.temporaryDirectory("cpio-list")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let payload = scratch.appendingPathComponent("payload")
        try Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: payload)
        let archive = scratch.appendingPathComponent("a.cpio")
        try Self.sampleTree(fileOnDisk: payload).write(to: try FileSink(url: archive))

        let listing = try TestSupport.shell("cpio -itvn --quiet < \(archive.path)")
        #expect(listing.status == 0, "\(listing.output)")
        // `cpio -itvn`: mode, links, uid, gid, size (or "major, minor"), date, name [-> target].
        let rows = listing.output.split(separator: "\n").map { row -> (name: String, fields: [Substring]) in
            let text = String(row.split(separator: " -> ").first ?? row)
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            return (String(fields.last ?? ""), fields)
        }
        let names = rows.map(\.name)
        #expect(names == ["bin", "bin/hard1", "bin/link", "bin/tool", "dev", "dev/console", "dev/sda", "etc", "etc/motd",
                          "run", "run/fifo", "tmp", "usr", "usr/hard2"])
        func line(_ name: String) -> [Substring] { rows.first { $0.name == name }?.fields ?? ["?", "?", "?", "?"] }
        #expect(line("bin/tool").first == "-rwsr-xr-x")
        #expect(line("bin/tool")[1] == "3", "three names share the file")
        #expect(line("etc/motd")[2] == "1000" && line("etc/motd")[3] == "100")
        #expect(line("dev/console").first == "crw-------")
        #expect(line("dev/sda").first == "brw-rw----")
        #expect(line("run/fifo").first == "prw-r--r--")
        #expect(line("tmp").first == "drwxrwxrwt")
        #expect(line("bin/link").first == "lrwxrwxrwx")
        #expect(listing.output.split(separator: "\n").allSatisfy { $0.contains(" Jan  1  1970 ") }, "mtime 0 everywhere")
        #expect(line("dev/console")[4...5] == ["5,", "1"])
    }

    @Test func extractionByGNUCpioGivesBackTheBytes() throws {
        let scratch = try TestSupport.temporaryDirectory("cpio-extract")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let payload = scratch.appendingPathComponent("payload")
        let payloadBytes = Data((0..<300_001).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 5) })
        try payloadBytes.write(to: payload)
        var tree = try Self.sampleTree(fileOnDisk: payload)
        // Device nodes need CAP_MKNOD, which a container may not grant; listing covers them.
        tree = try Self.withoutDevices(tree)
        let archive = scratch.appendingPathComponent("a.cpio")
        try tree.write(to: try FileSink(url: archive))
        let root = scratch.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let extract = try TestSupport.shell("cpio -idm --quiet --no-absolute-filenames < \(archive.path)", in: root)
        #expect(extract.status == 0, "\(extract.output)")

        #expect(try Data(contentsOf: root.appendingPathComponent("bin/tool")) == payloadBytes)
        #expect(try Data(contentsOf: root.appendingPathComponent("usr/hard2")) == payloadBytes)
        #expect(try String(contentsOf: root.appendingPathComponent("etc/motd"), encoding: .utf8) == "hello from cpio\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root.appendingPathComponent("bin/link").path) == "tool")
        var tool = stat(), hard1 = stat(), hard2 = stat()
        #expect(stat(root.appendingPathComponent("bin/tool").path, &tool) == 0)
        #expect(stat(root.appendingPathComponent("bin/hard1").path, &hard1) == 0)
        #expect(stat(root.appendingPathComponent("usr/hard2").path, &hard2) == 0)
        #expect(tool.st_ino == hard1.st_ino && tool.st_ino == hard2.st_ino, "hardlinks extracted as one file")
        #expect(tool.st_nlink == 3)
        #expect(tool.st_mode & 0o7777 == 0o4755)
        #expect(tool.st_mtim.tv_sec == 0)
    }

    static func withoutDevices(_ tree: InitramfsTree) throws -> InitramfsTree {
        var copy = InitramfsTree()
        for entry in tree.entries.values {
            switch entry.kind {
            case .characterDevice, .blockDevice, .fifo: continue
            default: try copy.add(entry)
            }
        }
        return copy
    }

    /// GNU cpio with --reproducible (renumbered inodes from 0, no device numbers) on files with mtime 0
    /// is an independent writer of the same format; given the same members it must give the same bytes.
    @Test func bytesEqualGNUCpioReproducibleOutput() throws {
        let scratch = try TestSupport.temporaryDirectory("cpio-gnu")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let setup = try TestSupport.shell("""
            set -e
            mkdir -p d/sub
            printf 'hi\\n' > d/f
            head -c 5000 /dev/zero | tr '\\0' 'x' > d/sub/big
            ln d/f d/h
            ln -s f d/l
            chmod 0640 d/sub/big
            touch -h -d @0 d/f d/l d/sub/big d/sub d
            printf 'd\\nd/f\\nd/h\\nd/l\\nd/sub\\nd/sub/big\\n' | cpio -o -H newc --reproducible --quiet > gnu.cpio
            """, in: scratch)
        #expect(setup.status == 0, "\(setup.output)")

        var tree = InitramfsTree()
        func mode(_ path: String) throws -> UInt32 {
            var info = stat()
            guard lstat(scratch.appendingPathComponent(path).path, &info) == 0 else { throw GuestImageError.io("stat \(path)") }
            return UInt32(info.st_mode) & 0o7777
        }
        try tree.addDirectory("d", permissions: try mode("d"))
        try tree.addFile("d/f", .file(scratch.appendingPathComponent("d/f")), permissions: try mode("d/f"))
        try tree.add(InitramfsEntry(path: "d/h", kind: .hardlink(target: "d/f"), permissions: 0))
        try tree.addSymlink("d/l", target: "f")
        try tree.addDirectory("d/sub", permissions: try mode("d/sub"))
        try tree.addFile("d/sub/big", .bytes(Array(repeating: UInt8(ascii: "x"), count: 5000)), permissions: try mode("d/sub/big"))
        let sink = MemorySink()
        try tree.write(to: sink, firstInode: 0)
        let gnu = try [UInt8](Data(contentsOf: scratch.appendingPathComponent("gnu.cpio")))
        #expect(sink.bytes.count == gnu.count)
        #expect(sink.bytes == gnu)
    }

    @Test func insertionOrderDoesNotChangeTheBytes() throws {
        var forward = InitramfsTree()
        var backward = InitramfsTree()
        let names = (0..<50).map { "dir\($0 % 5)/file-\($0)" }
        for name in names { try forward.addFile(name, .bytes(Array(name.utf8))) }
        for name in names.reversed() { try backward.addFile(name, .bytes(Array(name.utf8))) }
        let a = MemorySink(), b = MemorySink()
        try forward.write(to: a)
        try backward.write(to: b)
        #expect(a.bytes == b.bytes)
        #expect(a.bytes.count % 512 == 0)
    }

    @Test func finalMembersComeAfterTheSortedOnesWithTheNextInodes() throws {
        var tree = InitramfsTree()
        try tree.addFile("zzz", .bytes([1]))
        try tree.addFile("aaa", .bytes([2]))
        try tree.addFinal(InitramfsEntry(path: "000-last", kind: .regularFile(.bytes([3])), permissions: 0o644))
        let sink = MemorySink()
        let summary = try tree.write(to: sink)
        #expect(summary.members == 3)
        let text = String(decoding: sink.bytes.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        let order = ["aaa", "zzz", "000-last", "TRAILER!!!"].compactMap { text.range(of: $0)?.lowerBound }
        #expect(order.count == 4 && order == order.sorted())
        // Header of the final member: ino field is the 2nd (after the 6-byte magic), 3 = after aaa(1), zzz(2).
        if let range = text.range(of: "000-last") {
            let start = text.distance(from: text.startIndex, to: range.lowerBound) - 110
            #expect(String(decoding: sink.bytes[(start + 6)..<(start + 14)], as: UTF8.self) == "00000003")
        }
    }

    @Test func pathsThatEscapeTheRootAreRefused() throws {
        var tree = InitramfsTree()
        #expect(throws: GuestImageError.self) { try tree.addFile("../etc/passwd", .bytes([])) }
        #expect(throws: GuestImageError.self) { try tree.addFile("a/../../b", .bytes([])) }
        #expect(throws: GuestImageError.self) { try tree.addFile("/", .bytes([])) }
        #expect(try InitramfsTree.normalize("/./usr//bin/") == "usr/bin")
        try tree.addFile("f", .bytes([]))
        #expect(throws: GuestImageError.self) { try tree.addFile("f/child", .bytes([])) }
    }

    @Test func hardlinkToAMissingFileIsRefused() throws {
        var tree = InitramfsTree()
        try tree.add(InitramfsEntry(path: "a", kind: .hardlink(target: "missing"), permissions: 0o644))
        #expect(throws: GuestImageError.self) { try tree.write(to: MemorySink()) }
    }

    /// RFC 1952: ID1 ID2 = 1f 8b, FLG bit 3 = FNAME, MTIME = bytes 4-7.
    @Test func gzipOutputHasNoNameNoTimeAndDecompressesToTheArchive() throws {
        let scratch = try TestSupport.temporaryDirectory("gzip")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var tree = InitramfsTree()
        try tree.addFile("data", .bytes((0..<100_000).map { UInt8(truncatingIfNeeded: $0 / 3) }))
        let plain = MemorySink()
        try tree.write(to: plain)
        let first = scratch.appendingPathComponent("one.gz"), second = scratch.appendingPathComponent("two.gz")
        try tree.write(to: try GzipFileSink(url: first))
        try tree.write(to: try GzipFileSink(url: second))
        let gz = try [UInt8](Data(contentsOf: first))
        #expect(gz.prefix(3) == [0x1F, 0x8B, 0x08])
        #expect(gz[3] & 0x08 == 0, "no file name stored")
        #expect(gz[4..<8] == [0, 0, 0, 0], "mtime 0")
        #expect(try Data(contentsOf: second) == Data(gz))
        let out = scratch.appendingPathComponent("plain")
        #expect(try TestSupport.shell("gzip -dc \(first.path) > \(out.path)").status == 0)
        #expect(try [UInt8](Data(contentsOf: out)) == plain.bytes)
    }
}
