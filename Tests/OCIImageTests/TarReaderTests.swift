import Foundation
import Testing
@testable import OCIImage

@Suite struct TarReaderTests {
    final class BytesSource: ByteSource {
        var bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        func read(max: Int) throws -> [UInt8] {
            let chunk = Array(bytes.prefix(max))
            bytes.removeFirst(chunk.count)
            return chunk
        }
    }

    func entries(_ bytes: [UInt8]) throws -> [(TarEntry, [UInt8])] {
        let reader = TarReader(BufferedReader(BytesSource(bytes)))
        var out: [(TarEntry, [UInt8])] = []
        while let entry = try reader.next() { out.append((entry, try reader.readAllContent())) }
        return out
    }

    @Test func readsWhatGNUTarWrites() throws {
        // GNU tar writes the archive; the long name needs its 'L' record and the long link its 'K'.
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let long = String(repeating: "d", count: 120)
        let script = """
        cd '\(directory)' && mkdir -p src/\(long) && printf hello > src/\(long)/f && ln -s \(long)/\(String(repeating: "t", count: 110)) src/l \
        && ln src/\(long)/f src/hard && touch -d @1234567890 src/\(long)/f && tar --format=gnu --numeric-owner -cf gnu.tar -C src .
        """
        _ = try run("bash", ["-c", script])
        let found = try entries(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/gnu.tar"))))
        let names = found.map(\.0.path)
        #expect(names.contains("./\(long)/f"))
        let file = try #require(found.first { $0.0.path == "./\(long)/f" })
        #expect(file.1 == Array("hello".utf8))
        #expect(file.0.mtime == 1_234_567_890)
        let link = try #require(found.first { $0.0.path == "./l" })
        #expect(link.0.type == .symbolicLink)
        #expect(link.0.linkTarget == "\(long)/\(String(repeating: "t", count: 110))")
        let hard = try #require(found.first { $0.0.type == .hardLink })
        #expect([hard.0.path, hard.0.linkTarget].contains("./\(long)/f"))
    }

    @Test func readsWhatPAXTarWrites() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let long = String(repeating: "p", count: 200)
        _ = try run("bash", ["-c", "cd '\(directory)' && mkdir src && printf 12345 > src/\(long) && tar --format=pax --owner=4000000000 --group=7 -cf pax.tar -C src \(long)"])
        let found = try entries(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/pax.tar"))))
        #expect(found.count == 1)
        #expect(found.first?.0.path == long)
        #expect(found.first?.0.uid == 4_000_000_000)
        #expect(found.first?.0.gid == 7)
        #expect(found.first?.1 == Array("12345".utf8))
    }

    @Test func paxRecordsOverrideAndGlobalRecordsPersist() throws {
        var tar = TarBuilder()
        tar.pax([("uid", "77")], global: true)
        tar.pax([("path", "über/long name"), ("linkpath", "target"), ("mtime", "1700000123.75"), ("gid", "12")])
        tar.symlink("short", to: "x")
        tar.file("plain", "p")
        let found = try entries(tar.finished)
        #expect(found.map(\.0.path) == ["über/long name", "plain"])
        #expect(found[0].0.linkTarget == "target")
        #expect(found[0].0.mtime == 1_700_000_123)
        #expect(found[0].0.gid == 12)
        #expect(found.allSatisfy { $0.0.uid == 77 })
    }

    @Test func ustarPrefixIsJoined() throws {
        var tar = TarBuilder()
        tar.append(TarBuilder.header(name: "file", type: "0", size: 1, prefix: "some/prefix"), data: [0x41])
        #expect(try entries(tar.finished).map(\.0.path) == ["some/prefix/file"])
    }

    @Test func headerOnlyTypesCarryNoData() throws {
        // A symlink header claiming 512 bytes of data: like Go's archive/tar, no data is consumed.
        var tar = TarBuilder()
        tar.append(TarBuilder.header(name: "link", type: "2", size: 512, link: "t"))
        tar.file("after", "a")
        let found = try entries(tar.finished)
        #expect(found.map(\.0.path) == ["link", "after"])
        #expect(found[0].0.size == 0)
    }

    @Test func badChecksumIsRejected() {
        var tar = TarBuilder()
        tar.append(TarBuilder.header(name: "x", type: "0", corruptChecksum: true))
        #expect(throws: TarError.self) { _ = try entries(tar.finished) }
    }

    @Test func malformedFieldsAreRejectedWithOneLine() {
        var badNumber = TarBuilder.header(name: "x", type: "0")
        badNumber.replaceSubrange(108..<116, with: Array("12x4567\0".utf8))
        // Recompute the checksum so only the uid field is wrong.
        badNumber.replaceSubrange(148..<156, with: Array("        ".utf8))
        let sum = badNumber.reduce(0) { $0 + Int64($1) }
        badNumber.replaceSubrange(148..<156, with: TarBuilder.octal(sum, width: 7) + [0x20])
        do {
            _ = try entries(badNumber + [UInt8](repeating: 0, count: 1024))
            Issue.record("accepted a non-octal uid")
        } catch {
            #expect(String(describing: error) == "tar header at byte 0: field uid is not a number")
        }
    }

    @Test func badPAXRecordsAreRejected() {
        for payload in ["99 path=x\n", "abc path=x\n", "11 pathx\n", "10 path=xy"] {
            var tar = TarBuilder()
            tar.append(TarBuilder.header(name: "PaxHeader", type: "x", size: Int64(payload.utf8.count)), data: Array(payload.utf8))
            tar.file("x", "")
            #expect(throws: TarError.self, "\(payload)") { _ = try entries(tar.finished) }
        }
    }

    @Test func unsupportedTypesAndNonUTF8NamesAreRejected() {
        var sparse = TarBuilder()
        sparse.append(TarBuilder.header(name: "s", type: "S"))
        #expect(throws: TarError.self) { _ = try entries(sparse.finished) }
        var name = TarBuilder.header(name: "ok", type: "0")
        name[0] = 0xFF
        name.replaceSubrange(148..<156, with: Array("        ".utf8))
        let sum = name.reduce(0) { $0 + Int64($1) }
        name.replaceSubrange(148..<156, with: TarBuilder.octal(sum, width: 7) + [0x20])
        #expect(throws: TarError.notUTF8(field: "name", offset: 0)) { _ = try entries(name + [UInt8](repeating: 0, count: 1024)) }
    }

    @Test func extendedHeaderAtEndOfStreamIsTruncation() {
        var tar = TarBuilder()
        tar.gnuLong("dangling")
        #expect(throws: TarError.self) { _ = try entries(tar.bytes) }
    }
}
