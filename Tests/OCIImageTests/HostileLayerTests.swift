import Testing
@testable import OCIImage

/// Hostile layers: each either fails with a one-line error naming the entry or is sanitised as
/// documented in docs/OCI.md; the tree is in memory, so nothing can reach the host either way.
@Suite struct HostileLayerTests {
    func expectRejected(_ layers: [[UInt8]], containing text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try flatten(layers)
            Issue.record("accepted a hostile layer", sourceLocation: sourceLocation)
        } catch {
            let message = String(describing: error)
            #expect(message.contains(text), "\(message)", sourceLocation: sourceLocation)
            #expect(!message.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    @Test func dotDotComponentIsRejected() {
        var layer = TarBuilder()
        layer.file("../../etc/passwd", "x")
        expectRejected([layer.finished], containing: "'..'")
        var inner = TarBuilder()
        inner.file("a/../../b", "x")
        expectRejected([inner.finished], containing: "'..'")
    }

    @Test func absolutePathsAreMadeRootRelative() throws {
        var layer = TarBuilder()
        layer.file("/etc/hostname", "h")
        layer.file("./etc//./motd", "m")
        let root = try flatten([layer.finished])
        #expect(root.paths == ["etc", "etc/hostname", "etc/motd"])
    }

    @Test func symlinkToRootThenWriteThroughItStaysInImage() throws {
        var first = TarBuilder()
        first.symlink("escape", to: "/")
        first.symlink("up", to: "../../../../../..")
        var second = TarBuilder()
        second.file("escape/etc/passwd", "through-absolute")
        second.file("up/tmp/owned", "through-dotdot")
        let root = try flatten([first.finished, second.finished])
        #expect(try root.text("etc/passwd") == "through-absolute")
        #expect(try root.text("tmp/owned") == "through-dotdot")
        #expect(root.entry(at: "escape")?.kind == .symbolicLink(target: "/"))
    }

    @Test func symlinkThenWriteThroughItInTheSameLayer() throws {
        var layer = TarBuilder()
        layer.symlink("evil", to: "/host/root")
        layer.file("evil/.ssh/authorized_keys", "k")
        let root = try flatten([layer.finished])
        #expect(try root.text("host/root/.ssh/authorized_keys") == "k")
    }

    @Test func symlinkLoopIsRejected() {
        var layer = TarBuilder()
        layer.symlink("a", to: "b")
        layer.symlink("b", to: "a")
        layer.file("a/x", "x")
        expectRejected([layer.finished], containing: "too many levels of symbolic links")
    }

    @Test func pathThroughAFileIsRejected() {
        var layer = TarBuilder()
        layer.file("etc", "a file")
        layer.file("etc/passwd", "x")
        expectRejected([layer.finished], containing: "is not a directory")
    }

    @Test func hardLinkOutsideTheRootIsRejected() {
        var layer = TarBuilder()
        layer.hardlink("shadow", to: "../../etc/shadow")
        expectRejected([layer.finished], containing: "'..'")
    }

    @Test func hardLinkToAbsoluteHostPathResolvesInImageOnly() {
        var layer = TarBuilder()
        layer.hardlink("shadow", to: "/etc/shadow")
        expectRejected([layer.finished], containing: "does not exist in the image")
    }

    @Test func hardLinkToMissingOrDirectoryIsRejected() {
        var missing = TarBuilder()
        missing.hardlink("a", to: "nowhere")
        expectRejected([missing.finished], containing: "does not exist in the image")
        var directory = TarBuilder()
        directory.directory("d/")
        directory.hardlink("a", to: "d")
        expectRejected([directory.finished], containing: "points to directory")
    }

    @Test func overlongComponentIsRejected() {
        var layer = TarBuilder()
        layer.pax([("path", String(repeating: "n", count: 300))])
        layer.file("ignored", "x")
        expectRejected([layer.finished], containing: "longer than 255 bytes")
    }

    @Test func rootReplacedByAFileIsRejected() {
        var layer = TarBuilder()
        layer.file(".", "x")
        expectRejected([layer.finished], containing: "image root")
    }

    @Test func emptySymlinkTargetIsRejected() {
        var layer = TarBuilder()
        layer.symlink("s", to: "")
        expectRejected([layer.finished], containing: "empty target")
    }

    @Test func truncatedArchiveIsRejected() {
        var layer = TarBuilder()
        layer.file("big", [UInt8](repeating: 0x41, count: 5000))
        expectRejected([Array(layer.bytes.prefix(2048))], containing: "truncated")
        expectRejected([Array(layer.bytes.prefix(300))], containing: "truncated")
    }

    @Test func hugeDeclaredSizeIsRejectedBeforeReading() {
        var layer = TarBuilder()
        layer.append(TarBuilder.header(name: "huge", type: "0", rawSize: Array("77777777777".utf8) + [0]))
        var limits = FlattenLimits()
        limits.maxStoredBytes = 1 << 30
        do {
            _ = try flatten([layer.finished], limits: limits)
            Issue.record("accepted an 8 GiB entry over a 1 GiB store")
        } catch {
            #expect(String(describing: error).contains("past the limit of 1073741824 bytes"), "\(error)")
        }
    }

    /// A gzip bomb: 64 MiB of zeros compress to about 64 KiB. Against a 16 MiB limit the flattening
    /// stops at the header, naming the limit and the flag that raises it (no GiBs written in a test).
    @Test func gzipBombIsStoppedAtTheContentLimit() throws {
        var layer = TarBuilder()
        layer.file("small", [UInt8](repeating: 1, count: 100 << 10))
        layer.file("zeros", [UInt8](repeating: 0, count: 64 << 20))
        let compressed = try gzip(layer.finished)
        #expect(compressed.count < 1 << 20)
        var limits = FlattenLimits()
        limits.maxStoredBytes = 16 << 20
        #expect(throws: FlattenError.contentLimitExceeded(layer: 1, path: "zeros", size: 64 << 20, stored: 100 << 10, limit: 16 << 20)) {
            _ = try flatten([compressed], limits: limits)
        }
        #expect("\(FlattenError.contentLimitExceeded(layer: 1, path: "zeros", size: 64 << 20, stored: 0, limit: 16 << 20))"
            .contains("--max-image-content"))
    }

    /// An entry larger than the temporary directory's free space is refused before it is written.
    @Test func entryLargerThanTheFreeSpaceIsRefusedBeforeWriting() throws {
        var layer = TarBuilder()
        layer.pax([("size", "\(Int64(1) << 52)")])  // 4 PiB: more than any test machine's disk
        layer.append(TarBuilder.header(name: "huge", type: "0"))
        var limits = FlattenLimits()
        limits.maxStoredBytes = .max
        limits.tar.maxEntrySize = .max
        do {
            _ = try flatten([layer.finished], limits: limits)
            Issue.record("accepted a 4 PiB entry")
        } catch let error as FlattenError {
            guard case let .noSpace(_, path, size, _, available) = error else { Issue.record("\(error)"); return }
            #expect(path == "huge" && size == 1 << 52 && available < size)
            #expect("\(error)".contains("free"))
        }
    }

    @Test func defaultContentLimitIsFourGiB() {
        #expect(FlattenLimits().maxStoredBytes == 4 << 30)
    }

    @Test func negativeAndOverflowingSizesAreRejected() {
        var negative = TarBuilder()
        negative.append(TarBuilder.header(name: "neg", type: "0", rawSize: [0xFF] + [UInt8](repeating: 0xFF, count: 11)))
        expectRejected([negative.finished], containing: "negative")
        var overflow = TarBuilder()
        overflow.append(TarBuilder.header(name: "huge", type: "0", rawSize: [0x80] + [UInt8](repeating: 0xFF, count: 11)))
        expectRejected([overflow.finished], containing: "size")
        var paxNegative = TarBuilder()
        paxNegative.pax([("size", "-5")])
        paxNegative.file("x", "")
        expectRejected([paxNegative.finished], containing: "negative")
    }

    @Test func oversizeExtendedHeaderIsRejected() {
        var layer = TarBuilder()
        layer.append(TarBuilder.header(name: "PaxHeader", type: "x", size: 64 << 20))
        expectRejected([layer.finished], containing: "extended header size")
    }

    @Test func tooManyEntriesHitTheLimit() {
        var layer = TarBuilder()
        for index in 0..<20 { layer.file("f\(index)", "") }
        var limits = FlattenLimits()
        limits.maxEntries = 10
        #expect(throws: FlattenError.limitExceeded(layer: 1, what: "number of entries", limit: 10)) {
            _ = try flatten([layer.finished], limits: limits)
        }
    }
}
