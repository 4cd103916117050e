import Foundation
import Testing
@testable import Launch

struct VMStoreNameTests {
    @Test(arguments: ["", "..", "../etc", "a/b", "/abs", "a..b", ".hidden", "-rf", "_x", "a b", "semi;colon", "nul\u{0}", "é", "tab\t",
                      String(repeating: "n", count: 49)])
    func hostileNamesAreRejected(_ name: String) {
        #expect(throws: VMError.self) { try VMName(name) }
    }

    @Test(arguments: ["web", "web-1", "db.2", "A_b", "0", String(repeating: "n", count: 48)])
    func ordinaryNamesAreAccepted(_ name: String) throws {
        #expect(try VMName(name).rawValue == name)
    }

    @Test func aHostileNameInStateJSONIsRefusedWhenRead() {
        let json = Data(#""../../etc""#.utf8)
        #expect(throws: VMError.self) { try JSONDecoder().decode(VMName.self, from: json) }
    }
}

struct VMStoreStateTests {
    static func record(_ name: String) throws -> VMRecord {
        VMRecord(name: try VMName(name), backend: .qemu, libvirtURI: nil, source: VMSource(kind: .disk, origin: "/base.img", baseFormat: "raw"),
                 mode: .none, policy: nil, vcpus: 1, memoryMiB: 64, cpuModel: nil, accelerator: .tcg,
                 firmware: VMFirmware(kind: .seabios), userNetwork: false, instanceID: nil)
    }

    @Test func cvmHomeChoosesTheStoreRoot() {
        #expect(VMStore.default(environment: ["CVM_HOME": "/tmp/h"]).root.path == "/tmp/h/vms")
        #expect(VMStore.default(environment: ["XDG_DATA_HOME": "/d"]).root.path == "/d/cvmkit/vms")
    }

    @Test func stateIsSavedPrivatelyAndReadBack() throws {
        let home = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: home) }
        let store = VMStore(root: home.appendingPathComponent("vms"))
        let (vm, lock) = try store.createDirectory(for: try VMName("s1"))
        try store.save(try Self.record("s1"), in: vm)
        lock.release()
        let mode = try #require(FileManager.default.attributesOfItem(atPath: vm.stateFile.path)[.posixPermissions] as? NSNumber)
        #expect(mode.intValue == 0o600)
        #expect(try store.load(vm) == (try Self.record("s1")).with(createdAt: try store.load(vm).createdAt))
        #expect(try store.list().map(\.name.rawValue) == ["s1"])
        #expect(throws: VMError.alreadyExists("s1")) { try store.createDirectory(for: try VMName("s1")) }
    }

    /// A TD's QGS socket survives the state file; a state file from before TDX (no "tdx" key) still reads.
    @Test func aTDsQuoteSocketIsKeptAndOlderStateStillReads() throws {
        let home = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: home) }
        let store = VMStore(root: home.appendingPathComponent("vms"))
        let (vm, lock) = try store.createDirectory(for: try VMName("td1"))
        var record = try Self.record("td1")
        record.mode = .tdx
        record.tdx = TDXLaunchOptions(quoteGenerationSocket: "/var/run/tdx-qgs/qgs.socket")
        try store.save(record, in: vm)
        lock.release()
        #expect(try store.load(vm).tdx?.quoteGenerationSocket == "/var/run/tdx-qgs/qgs.socket")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: vm.stateFile)) as? [String: Any])
        #expect(json["tdx"] != nil)
        json["tdx"] = nil
        try JSONSerialization.data(withJSONObject: json).write(to: vm.stateFile)
        #expect(try store.load(vm).tdx == nil)
    }

    @Test func aHeldLockMakesTheNextCommandWaitThenGiveUp() throws {
        let home = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: home) }
        var store = VMStore(root: home.appendingPathComponent("vms"))
        store.lockTimeout = 0.3
        let (vm, lock) = try store.createDirectory(for: try VMName("busy"))
        try store.save(try Self.record("busy"), in: vm)
        #expect(throws: VMError.busy("busy")) { try store.open(try VMName("busy")) }
        lock.release()
        let (_, second, _) = try store.open(try VMName("busy"))
        second.release()
    }

    /// Many writers each read, change and write state.json under the lock: no update may be lost and
    /// the file must parse at every moment a reader looks.
    @Test func concurrentReadModifyWriteLosesNothing() async throws {
        let home = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: home) }
        let store = VMStore(root: home.appendingPathComponent("vms"))
        let name = try VMName("counter")
        let (vm, lock) = try store.createDirectory(for: name)
        try store.save(try Self.record("counter"), in: vm)
        lock.release()
        let writers = 8, rounds = 25
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<writers {
                group.addTask {
                    for _ in 0..<rounds {
                        let (vm, lock, record) = try store.open(name)
                        var next = record
                        next.vcpus += 1
                        try store.save(next, in: vm)
                        lock.release()
                    }
                }
            }
            group.addTask {
                for _ in 0..<200 { _ = try store.load(store.directory(for: name)) }
            }
            try await group.waitForAll()
        }
        #expect(try store.load(vm).vcpus == 1 + writers * rounds)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: vm.url.path).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)
    }
}

extension VMRecord {
    func with(createdAt: Date) -> VMRecord {
        var copy = self
        copy.createdAt = createdAt
        return copy
    }
}
