import Foundation

/// Where VMs live: one directory per VM under `$CVM_HOME/vms` (default `~/.local/share/cvmkit/vms`).
public struct VMStore: Sendable {
    public let root: URL
    /// How long a command waits for another command on the same VM to finish.
    public var lockTimeout: Double = 300

    public init(root: URL) {
        self.root = root
    }

    /// `$CVM_HOME/vms`, else `$XDG_DATA_HOME/cvmkit/vms`, else `~/.local/share/cvmkit/vms`.
    public static func `default`(environment: [String: String] = ProcessInfo.processInfo.environment) -> VMStore {
        if let home = environment["CVM_HOME"], !home.isEmpty {
            return VMStore(root: URL(fileURLWithPath: home).appendingPathComponent("vms"))
        }
        let data = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".local/share")
        return VMStore(root: data.appendingPathComponent("cvmkit/vms"))
    }

    public func directory(for name: VMName) -> VMDirectory {
        VMDirectory(url: root.appendingPathComponent(name.rawValue))
    }

    /// Makes the VM's directory (failing when it exists) and returns it locked.
    public func createDirectory(for name: VMName) throws -> (VMDirectory, VMLock) {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let vm = directory(for: name)
        // mkdir is the atomic claim on the name; 0711 lets libvirt's QEMU user reach the files it is
        // given without letting other users list the directory.
        guard mkdir(vm.url.path, 0o711) == 0 else {
            if errno == EEXIST { throw VMError.alreadyExists(name.rawValue) }
            throw VMError.io("cannot create \(vm.url.path): \(errnoText())")
        }
        chmod(vm.url.path, 0o711)
        do {
            return (vm, try VMLock(path: vm.lockFile.path, name: name.rawValue, timeout: lockTimeout))
        } catch {
            try? FileManager.default.removeItem(at: vm.url)
            throw error
        }
    }

    /// Locks an existing VM and reads its record. A VM deleted while this command waited is reported
    /// as not found.
    public func open(_ name: VMName) throws -> (VMDirectory, VMLock, VMRecord) {
        let vm = directory(for: name)
        guard FileManager.default.fileExists(atPath: vm.stateFile.path) else { throw VMError.notFound(name.rawValue) }
        let lock = try VMLock(path: vm.lockFile.path, name: name.rawValue, timeout: lockTimeout)
        guard FileManager.default.fileExists(atPath: vm.stateFile.path) else { throw VMError.notFound(name.rawValue) }
        return (vm, lock, try load(vm))
    }

    public func load(_ vm: VMDirectory) throws -> VMRecord {
        guard let data = FileManager.default.contents(atPath: vm.stateFile.path) else {
            throw VMError.notFound(vm.url.lastPathComponent)
        }
        do {
            return try Self.decoder.decode(VMRecord.self, from: data)
        } catch {
            throw VMError.io("\(vm.stateFile.path) is not a cvm VM state file: \(error)")
        }
    }

    /// Replaces `state.json` atomically. Callers hold the VM's lock.
    public func save(_ record: VMRecord, in vm: VMDirectory) throws {
        try AtomicFile.write(try Self.encoder.encode(record), to: vm.stateFile, mode: 0o600)
    }

    /// Every VM with a readable state file, sorted by name. Reads need no lock: writes are atomic.
    public func list() throws -> [VMRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.sorted().compactMap { entry in
            guard let name = try? VMName(entry) else { return nil }
            return try? load(directory(for: name))
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}

/// The files of one VM.
public struct VMDirectory: Sendable, Hashable {
    public let url: URL

    public var name: String { url.lastPathComponent }
    public var stateFile: URL { file("state.json") }
    public var lockFile: URL { file("lock") }
    public var disk: URL { file("disk.qcow2") }
    public var ovmfVars: URL { file("OVMF_VARS.fd") }
    public var kernel: URL { file("kernel") }
    public var initrd: URL { file("initrd") }
    public var seedISO: URL { file("seed.iso") }
    /// The files the seed was built from (user-data may hold secrets: 0600).
    public var cloudInitDirectory: URL { file("cloud-init") }
    public var serialLog: URL { file("serial.log") }
    public var consoleSocket: URL { file("console.sock") }
    public var qmpSocket: URL { file("qmp.sock") }
    public var pidFile: URL { file("qemu.pid") }
    /// QEMU's own messages from the last start.
    public var qemuLog: URL { file("qemu.log") }
    public var domainXML: URL { file("domain.xml") }

    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }
}
