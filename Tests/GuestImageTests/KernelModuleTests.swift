import Foundation
import Testing
@testable import GuestImage

@Suite struct KernelModuleTests {
    /// Compiles a relocatable object whose .modinfo section holds `fields`, like modpost's output.
    static func makeModule(at url: URL, name: String, depends: [String]) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let source = url.deletingPathExtension().appendingPathExtension("c")
        let fields = ["license=GPL", "depends=\(depends.joined(separator: ","))", "name=\(name)"]
        let body = fields.enumerated().map { index, field in
            "__attribute__((section(\".modinfo\"), used, aligned(1))) static const char f\(index)[] = \"\(field)\";"
        }.joined(separator: "\n")
        try (body + "\nint cvm_test_\(index(name)) = 1;\n").write(to: source, atomically: true, encoding: .utf8)
        let result = try TestSupport.shell("gcc -c -o \(url.path) \(source.path)")
        #expect(result.status == 0, "\(result.output)")
    }

    static func index(_ name: String) -> String { name.replacingOccurrences(of: "-", with: "_") }

    @Test func modinfoOfARealELFObjectGivesItsDependencies() throws {
        let scratch = try TestSupport.temporaryDirectory("modinfo")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let object = scratch.appendingPathComponent("m.ko")
        try Self.makeModule(at: object, name: "m", depends: ["a-b", "c"])
        let info = try ELFFile(bytes: [UInt8](Data(contentsOf: object)), name: "m.ko").modinfo()
        #expect(info.first { $0.key == "depends" }?.value == "a-b,c")
        #expect(info.first { $0.key == "license" }?.value == "GPL")
    }

    @Test func staticAndDynamicExecutablesAreTold() throws {
        let scratch = try TestSupport.temporaryDirectory("static")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let source = scratch.appendingPathComponent("p.c")
        try "int main(void) { return 0; }\n".write(to: source, atomically: true, encoding: .utf8)
        let build = try TestSupport.shell("gcc -static -o s \(source.path) && gcc -o d \(source.path)", in: scratch)
        #expect(build.status == 0, "\(build.output)")
        #expect(try ELFFile(bytes: [UInt8](Data(contentsOf: scratch.appendingPathComponent("s"))), name: "s").isDynamicallyLinked == false)
        #expect(try ELFFile(bytes: [UInt8](Data(contentsOf: scratch.appendingPathComponent("d"))), name: "d").isDynamicallyLinked == true)
        #expect(throws: GuestImageError.self) { try ELFFile(bytes: Array("#!/bin/sh\n".utf8), name: "script") }
        #expect(throws: GuestImageError.self) { try ELFFile(bytes: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 0], name: "short") }
    }

    /// Debian's 6.12 packages ship .ko.xz: the modules a guest needs are decompressed once (xz, zstd,
    /// gzip, as Debian's and Ubuntu's kernels use them) and installed as plain .ko.
    @Test func compressedModulesAreDecompressedWhenNeeded() throws {
        let scratch = try TestSupport.temporaryDirectory("compressed")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let kernel = scratch.appendingPathComponent("kernel")
        try Self.makeModule(at: kernel.appendingPathComponent("drivers/virt/sev-guest.ko"), name: "sev-guest", depends: ["tsm"])
        try Self.makeModule(at: kernel.appendingPathComponent("drivers/virt/tsm.ko"), name: "tsm", depends: ["configfs"])
        try Self.makeModule(at: kernel.appendingPathComponent("fs/configfs.ko"), name: "configfs", depends: [])
        try Self.makeModule(at: kernel.appendingPathComponent("fs/unused.ko"), name: "unused", depends: [])
        let original = try Data(contentsOf: kernel.appendingPathComponent("drivers/virt/tsm.ko"))
        let pack = try TestSupport.shell("xz drivers/virt/sev-guest.ko fs/unused.ko && zstd -q --rm drivers/virt/tsm.ko && gzip fs/configfs.ko", in: kernel)
        #expect(pack.status == 0, "\(pack.output)")
        let set = try KernelModuleSet(directory: scratch)
        #expect(set.hasModule("sev-guest") && set.hasModule("tsm") && set.hasModule("configfs"))
        let (modules, unavailable) = try set.closure(of: ["sev-guest"])
        #expect(modules.map(\.name) == ["configfs", "tsm", "sev_guest"])
        #expect(modules.map(\.relativePath) == ["kernel/fs/configfs.ko", "kernel/drivers/virt/tsm.ko", "kernel/drivers/virt/sev-guest.ko"])
        #expect(unavailable.isEmpty)
        #expect(try Data(contentsOf: kernel.appendingPathComponent("drivers/virt/tsm.ko")) == original)
        #expect(!FileManager.default.fileExists(atPath: kernel.appendingPathComponent("fs/unused.ko").path), "only what is needed is decompressed")
        // A corrupt archive is an error naming the tool, not a truncated module.
        try Data("not xz".utf8).write(to: kernel.appendingPathComponent("fs/broken.ko.xz"))
        #expect(throws: GuestImageError.self) { try KernelModuleSet(directory: scratch).module(named: "broken") }
        #expect(!FileManager.default.fileExists(atPath: kernel.appendingPathComponent("fs/broken.ko").path))
    }

    @Test func closureListsDependenciesFirstAndSkipsBuiltins() throws {
        let scratch = try TestSupport.temporaryDirectory("closure")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let kernel = scratch.appendingPathComponent("kernel")
        try Self.makeModule(at: kernel.appendingPathComponent("drivers/virt/sev-guest.ko"), name: "sev-guest", depends: ["tsm"])
        try Self.makeModule(at: kernel.appendingPathComponent("drivers/virt/tsm.ko"), name: "tsm", depends: ["configfs"])
        try Self.makeModule(at: kernel.appendingPathComponent("fs/configfs.ko"), name: "configfs", depends: [])
        try Self.makeModule(at: kernel.appendingPathComponent("drivers/virtio_pci.ko"), name: "virtio_pci", depends: ["virtio", "virtio_ring"])
        try Self.makeModule(at: kernel.appendingPathComponent("drivers/virtio_ring.ko"), name: "virtio_ring", depends: ["virtio"])
        try "kernel/drivers/virtio/virtio.ko\n".write(to: scratch.appendingPathComponent("modules.builtin"), atomically: true, encoding: .utf8)

        let set = try KernelModuleSet(directory: scratch)
        let (modules, unavailable) = try set.closure(of: ["sev-guest", "virtio_pci", "virtio", "no_such_module", "configfs"])
        #expect(modules.map(\.name) == ["configfs", "tsm", "sev_guest", "virtio_ring", "virtio_pci"])
        #expect(modules.first { $0.name == "sev_guest" }?.relativePath == "kernel/drivers/virt/sev-guest.ko")
        #expect(unavailable == ["no_such_module"])
    }
}
