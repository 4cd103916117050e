import Testing
@testable import OCIImage

/// OCI image-spec layer.md semantics, one behaviour per test.
@Suite struct FlattenTests {
    @Test func whiteoutRemovesLowerFileAndDirectory() throws {
        var lower = TarBuilder()
        lower.file("etc/keep", "k")
        lower.file("etc/gone", "g")
        lower.file("opt/tree/a", "a")
        lower.file("opt/tree/deep/b", "b")
        var upper = TarBuilder()
        upper.file("etc/.wh.gone", "")
        upper.file("opt/.wh.tree", "")
        upper.file("etc/.wh.never-existed", "")
        let root = try flatten([lower.finished, upper.finished])
        #expect(try root.text("etc/keep") == "k")
        #expect(root.entry(at: "etc/gone") == nil)
        #expect(root.entry(at: "opt/tree") == nil)
        #expect(root.entry(at: "opt/tree/deep/b") == nil)
        #expect(root.entry(at: "opt")?.isDirectory == true)
        #expect(!root.paths.contains { $0.contains(".wh.") })
    }

    @Test func whiteoutDoesNotRemoveEntriesOfItsOwnLayer() throws {
        var lower = TarBuilder()
        lower.file("app/config", "old")
        lower.file("app/old-only", "x")
        var upper = TarBuilder()
        upper.file("app/config", "new")     // before the whiteout in the same layer
        upper.file("app/.wh.config", "")
        upper.directory("data/")
        upper.file("data/new", "n")
        upper.file(".wh.data", "")          // no lower 'data': nothing to hide
        let root = try flatten([lower.finished, upper.finished])
        #expect(try root.text("app/config") == "new")
        #expect(try root.text("app/old-only") == "x")
        #expect(try root.text("data/new") == "n")
    }

    @Test func opaqueDirectoryHidesLowerChildrenOnly() throws {
        var lower = TarBuilder()
        lower.file("var/lib/one", "1")
        lower.file("var/lib/sub/two", "2")
        lower.file("var/other", "o")
        var upper = TarBuilder()
        upper.file("var/lib/sub/three", "3")   // written before the marker, same layer
        upper.file("var/lib/.wh..wh..opq", "")
        upper.file("var/lib/four", "4")
        let root = try flatten([lower.finished, upper.finished])
        #expect(root.entry(at: "var/lib/one") == nil)
        #expect(root.entry(at: "var/lib/sub/two") == nil)
        #expect(try root.text("var/lib/sub/three") == "3")
        #expect(try root.text("var/lib/four") == "4")
        #expect(try root.text("var/other") == "o")
        #expect(!root.paths.contains { $0.contains(".wh.") })
    }

    @Test func fileReplacesDirectoryAndDirectoryReplacesFile() throws {
        var lower = TarBuilder()
        lower.file("x/inside", "i")
        lower.file("y", "file")
        var upper = TarBuilder()
        upper.file("x", "now a file")
        upper.directory("y/", mode: 0o700)
        upper.file("y/child", "c")
        let root = try flatten([lower.finished, upper.finished])
        #expect(try root.text("x") == "now a file")
        #expect(root.entry(at: "x/inside") == nil)
        #expect(root.entry(at: "y")?.isDirectory == true)
        #expect(root.entry(at: "y")?.metadata.mode == 0o700)
        #expect(try root.text("y/child") == "c")
    }

    @Test func directoryOverDirectoryMergesAndTakesNewMetadata() throws {
        var lower = TarBuilder()
        lower.directory("srv/", mode: 0o755)
        lower.file("srv/a", "a")
        var upper = TarBuilder()
        upper.directory("srv/", mode: 0o750, uid: 33, gid: 33)
        upper.file("srv/b", "b")
        let root = try flatten([lower.finished, upper.finished])
        let srv = try #require(root.entry(at: "srv"))
        #expect(srv.metadata == RootFileSystem.Metadata(mode: 0o750, uid: 33, gid: 33, mtime: 1_700_000_000))
        #expect(try root.text("srv/a") == "a")
        #expect(try root.text("srv/b") == "b")
    }

    @Test func hardLinksShareContentAndGroup() throws {
        var lower = TarBuilder()
        lower.file("usr/bin/tool", "binary", mode: 0o755)
        var upper = TarBuilder()
        upper.hardlink("usr/bin/alias", to: "usr/bin/tool")     // target in a lower layer
        upper.file("etc/one", "1")
        upper.hardlink("etc/two", to: "./etc/one")              // target in the same layer
        let root = try flatten([lower.finished, upper.finished])
        let tool = try #require(root.entry(at: "usr/bin/tool"))
        let alias = try #require(root.entry(at: "usr/bin/alias"))
        #expect(tool.hardLinkGroup != nil)
        #expect(tool.hardLinkGroup == alias.hardLinkGroup)
        #expect(try root.text("usr/bin/alias") == "binary")
        #expect(alias.metadata.mode == 0o755)
        #expect(root.entry(at: "etc/one")?.hardLinkGroup == root.entry(at: "etc/two")?.hardLinkGroup)
        #expect(root.entry(at: "etc/one")?.hardLinkGroup != tool.hardLinkGroup)
        #expect(root.regularFileBytes == Int64("binary".utf8.count + 1))
        // "alias" sorts before "tool", so it is the group's first name.
        #expect(root.hardLinkTarget(of: alias) == nil)
        #expect(root.hardLinkTarget(of: tool) == "usr/bin/alias")
    }

    @Test func missingParentsAreCreatedAs0755() throws {
        var layer = TarBuilder()
        layer.file("a/b/c/file", "f", mode: 0o600, uid: 1000, gid: 100)
        let root = try flatten([layer.finished])
        #expect(root.paths == ["a", "a/b", "a/b/c", "a/b/c/file"])
        for path in ["a", "a/b", "a/b/c"] {
            #expect(root.entry(at: path)?.metadata == RootFileSystem.Metadata.implicitDirectory)
        }
        #expect(root.entry(at: "a/b/c/file")?.metadata == RootFileSystem.Metadata(mode: 0o600, uid: 1000, gid: 100, mtime: 1_700_000_000))
    }

    @Test func specialFilesModesAndOwnershipArePreserved() throws {
        var layer = TarBuilder()
        layer.directory("./", mode: 0o711)
        layer.device("dev/null", character: true, major: 1, minor: 3)
        layer.device("dev/sda", character: false, major: 8, minor: 0, mode: 0o660)
        layer.fifo("run/pipe")
        layer.file("usr/bin/su", "s", mode: 0o4755)
        layer.directory("tmp/", mode: 0o1777)
        layer.symlink("bin/sh", to: "/bin/busybox")
        let root = try flatten([layer.finished])
        #expect(root.root.mode == 0o711)
        #expect(root.entry(at: "dev/null")?.kind == .characterDevice(major: 1, minor: 3))
        #expect(root.entry(at: "dev/sda")?.kind == .blockDevice(major: 8, minor: 0))
        #expect(root.entry(at: "dev/sda")?.metadata.mode == 0o660)
        #expect(root.entry(at: "run/pipe")?.kind == .fifo)
        #expect(root.entry(at: "usr/bin/su")?.metadata.mode == 0o4755)
        #expect(root.entry(at: "tmp")?.metadata.mode == 0o1777)
        #expect(root.entry(at: "bin/sh")?.kind == .symbolicLink(target: "/bin/busybox"))
    }

    @Test func laterLayerReplacesSymlinkItselfNotItsTarget() throws {
        var lower = TarBuilder()
        lower.file("etc/real", "real")
        lower.symlink("etc/link", to: "real")
        var upper = TarBuilder()
        upper.file("etc/link", "replaced")
        let root = try flatten([lower.finished, upper.finished])
        #expect(try root.text("etc/real") == "real")
        #expect(try root.text("etc/link") == "replaced")
    }

    @Test func writesThroughAnInImageSymlinkLandInItsTarget() throws {
        var lower = TarBuilder()
        lower.directory("usr/bin/")
        lower.symlink("bin", to: "usr/bin")
        var upper = TarBuilder()
        upper.file("bin/tool", "t")
        let root = try flatten([lower.finished, upper.finished])
        #expect(try root.text("usr/bin/tool") == "t")
        #expect(root.entry(at: "bin")?.kind == .symbolicLink(target: "usr/bin"))
    }

    @Test func entriesAreOrderedParentsFirstByteOrder() throws {
        var layer = TarBuilder()
        layer.file("b/z", "")
        layer.file("a", "")
        layer.file("b/B", "")
        layer.file("b/a", "")
        let root = try flatten([layer.finished])
        #expect(root.paths == ["a", "b", "b/B", "b/a", "b/z"])
    }

    @Test func largeFilesGoToTheStoreAndReadBackIntact() throws {
        let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var layer = TarBuilder()
        layer.file("data/big", big)
        layer.file("data/small", "s")
        let root = try flatten([layer.finished])
        let entry = try #require(root.entry(at: "data/big"))
        guard case .regularFile(let content) = entry.kind, case .stored = content.storage else {
            Issue.record("large file not in the content store"); return
        }
        #expect(try root.contents(of: entry) == big)
        #expect(root.store.size == Int64(big.count))
        guard case .regularFile(let small) = try #require(root.entry(at: "data/small")).kind, case .inline = small.storage else {
            Issue.record("small file not inline"); return
        }
    }
}
