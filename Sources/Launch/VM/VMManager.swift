import Foundation
import HostOS
import HostProbe
import SEVABI

/// The persistent-VM lifecycle: create, start, stop, status, list, delete. Each operation on a VM
/// holds its lock from first read to last write, so concurrent commands on one VM serialise.
public struct VMManager: Sendable {
    public var store: VMStore
    public var runner: any CommandRunner
    public var qemuBinary: String
    /// Where notices (such as a fall-back to TCG) go.
    public var notice: @Sendable (String) -> Void
    /// The command that starts this program again (e.g. ["/proc/self/exe"] resolved), for the watcher
    /// `start` leaves behind to record the stop of a guest that exits by itself; nil starts none.
    public var stopWatcher: [String]?

    public init(store: VMStore = .default(), runner: any CommandRunner = ProcessRunner(),
                qemuBinary: String = "qemu-system-x86_64", notice: @escaping @Sendable (String) -> Void = { _ in }) {
        self.store = store
        self.runner = runner
        self.qemuBinary = qemuBinary
        self.notice = notice
    }

    func backend(for record: VMRecord) -> any VMBackend {
        switch record.backend {
        case .qemu: return QEMUVMBackend(binary: qemuBinary, tool: VMTool(runner: runner))
        case .libvirt: return LibvirtVMBackend(uri: record.libvirtURI ?? "qemu:///system", tool: VMTool(runner: runner))
        }
    }

    // MARK: create

    @discardableResult
    public func create(_ request: VMCreateRequest) throws -> VMRecord {
        try requireHostSupport(request.mode)
        if request.backend == .libvirt,
           LibvirtVMBackend(uri: request.libvirtURI, tool: VMTool(runner: runner)).exists(request.name.rawValue) {
            throw VMError.invalidInput("a libvirt domain named '\(request.name.rawValue)' already exists at \(request.libvirtURI); pick another VM name")
        }
        let (vm, lock) = try store.createDirectory(for: request.name)
        defer { lock.release() }
        do {
            let record = try populate(vm, request: request)
            try store.save(record, in: vm)
            if record.backend == .libvirt {
                let accelerator = try resolveAccelerator(record)
                try backend(for: record).define(record, in: vm, spec: try launchSpec(record, in: vm, accelerator: accelerator))
            }
            return record
        } catch {
            try? FileManager.default.removeItem(at: vm.url)
            throw error
        }
    }

    /// `cvm vm create --dry-run`: the QEMU argv or libvirt domain XML the VM's first start would use,
    /// with the paths of its directory-to-be; nothing is created, copied or asked of the host.
    public func dryRun(_ request: VMCreateRequest) throws -> String {
        let vm = store.directory(for: request.name)
        let source: VMSource
        switch request.source {
        case let .bundle(directory, _, initrd, cmdline):
            source = VMSource(kind: .bundle, origin: absolute(directory), cmdline: cmdline, hasInitrd: initrd != nil)
        case .disk(let path):
            source = VMSource(kind: .disk, origin: absolute(path))
        case .cloudImage(let path, _, _):
            source = VMSource(kind: .cloudImage, origin: absolute(path))
        }
        let firmware: ResolvedFirmware
        do {
            firmware = try LaunchPlanner.resolveFirmware(for: request.mode, request: firmwareRequest(request, source: source))
        } catch let error as LaunchError {
            throw VMError(error)
        }
        var record = VMRecord(name: request.name, backend: request.backend, libvirtURI: request.backend == .libvirt ? request.libvirtURI : nil,
                              source: source, mode: request.mode, policy: request.policy?.hexValue, vcpus: request.vcpus,
                              memoryMiB: request.memoryMiB, cpuModel: request.cpuModel, accelerator: request.accelerator,
                              firmware: VMFirmware(firmware.firmware(varsPath: vm.ovmfVars.path)),
                              userNetwork: request.userNetwork ?? (source.kind == .cloudImage) || !request.portForwards.isEmpty, instanceID: nil)
        record.portForwards = request.portForwards.isEmpty ? nil : request.portForwards
        record.kernelHashes = request.kernelHashes
        record.snp = request.snp == SNPLaunchOptions() ? nil : request.snp
        record.tdx = request.tdx == TDXLaunchOptions() ? nil : request.tdx
        let accelerator: Accelerator = request.mode.isConfidential || request.accelerator == .kvm ? .kvm : .tcg
        let spec = try launchSpec(record, in: vm, accelerator: accelerator)
        do {
            switch request.backend {
            case .qemu: return QEMUCommandLine.shellQuoted(try QEMUCommandLine.render(QEMUVMBackend.daemonSpec(spec, in: vm), binary: qemuBinary))
            case .libvirt: return try LibvirtVMBackend.domainXML(spec, in: vm, libvirtVersion: nil, uuid: nil)
            }
        } catch let error as LaunchError {
            throw VMError(error)
        }
    }

    /// `.auto` gives SeaBIOS to a plain bundle and OVMF to disks, cloud images and confidential modes.
    func firmwareRequest(_ request: VMCreateRequest, source: VMSource) -> FirmwareRequest {
        switch request.firmware {
        case .auto where source.kind != .bundle: return .ovmf
        case .path(let path): return .path(absolute(path))
        default: return request.firmware
        }
    }

    /// Fills a fresh VM directory: disk overlay, kernel and initrd copies, OVMF VARS copy, seed ISO.
    func populate(_ vm: VMDirectory, request: VMCreateRequest) throws -> VMRecord {
        let disks = VMDiskImage(runner: runner)
        let source: VMSource
        var instanceID: String?
        switch request.source {
        case let .bundle(directory, kernel, initrd, cmdline):
            try copy(kernel, to: vm.kernel)
            if let initrd { try copy(initrd, to: vm.initrd) }
            source = VMSource(kind: .bundle, origin: absolute(directory), cmdline: cmdline, hasInitrd: initrd != nil)
        case .disk(let path), .cloudImage(let path, _, _):
            let base = absolute(path)
            let format = try disks.format(of: base)
            try disks.createOverlay(at: vm.disk, base: base, baseFormat: format, size: request.diskSize)
            if case let .cloudImage(_, userData, networkConfig) = request.source {
                let id = "iid-cvm-\(request.name.rawValue)-\(UUID().uuidString.prefix(8).lowercased())"
                let seed = try CloudInitSeed(instanceID: id, hostname: CloudInitSeed.hostname(from: request.name.rawValue),
                                             userData: userData, networkConfig: networkConfig)
                try seed.write(sourceDirectory: vm.cloudInitDirectory, isoPath: vm.seedISO, runner: runner)
                instanceID = id
                source = VMSource(kind: .cloudImage, origin: base, baseFormat: format)
            } else {
                source = VMSource(kind: .disk, origin: base, baseFormat: format)
            }
        }
        let firmware: VMFirmware
        do {
            // Copies the VARS template to OVMF_VARS.fd in the VM directory when the firmware uses pflash.
            firmware = VMFirmware(try LaunchPlanner.resolveFirmware(for: request.mode, request: firmwareRequest(request, source: source))
                .prepare(in: vm.url))
        } catch let error as LaunchError {
            throw VMError(error)
        }
        if FileManager.default.fileExists(atPath: vm.ovmfVars.path) { chmod(vm.ovmfVars.path, 0o600) }
        if request.userNetwork == false && !request.portForwards.isEmpty {
            throw VMError.invalidInput("--publish needs the guest's user network: drop --network none")
        }
        let userNetwork = request.userNetwork ?? (source.kind == .cloudImage) || !request.portForwards.isEmpty
        var record = VMRecord(name: request.name, backend: request.backend,
                              libvirtURI: request.backend == .libvirt ? request.libvirtURI : nil,
                              source: source, mode: request.mode, policy: request.policy?.hexValue, vcpus: request.vcpus,
                              memoryMiB: request.memoryMiB, cpuModel: request.cpuModel, accelerator: request.accelerator,
                              firmware: firmware, userNetwork: userNetwork, instanceID: instanceID)
        record.portForwards = request.portForwards.isEmpty ? nil : request.portForwards
        record.kernelHashes = request.kernelHashes
        record.snp = request.snp == SNPLaunchOptions() ? nil : request.snp
        record.tdx = request.tdx == TDXLaunchOptions() ? nil : request.tdx
        // Checks that need no host (policy matches mode, sizes in range) fail here rather than at start.
        do {
            try launchSpec(record, in: vm, accelerator: .tcg).validate()
        } catch let error as LaunchError {
            throw VMError(error)
        }
        return record
    }

    func copy(_ path: String, to destination: URL) throws {
        do {
            try FileManager.default.copyItem(atPath: path, toPath: destination.path)
        } catch {
            throw VMError.io("cannot copy \(path) into the VM: \(error.localizedDescription)")
        }
        chmod(destination.path, 0o600)
    }

    func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The launch this VM makes, with files from its directory: the record supplies the guest and the
    /// options, `LaunchBuilder` makes the spec. The host was asked (and `accelerator` chosen) by the
    /// caller; the firmware is the one resolved at create time, with the VM's own variable store.
    public func launchSpec(_ record: VMRecord, in vm: VMDirectory, accelerator: Accelerator) throws -> LaunchSpec {
        let guest: LaunchGuest
        switch record.source.kind {
        case .bundle:
            guest = .bundle(BundleBoot(kernel: vm.kernel.path, initrd: record.source.hasInitrd ? vm.initrd.path : nil,
                                       cmdline: record.source.cmdline ?? ""))
        case .disk, .cloudImage:
            guest = .vmDisk(path: vm.disk.path)
        }
        var options = LaunchOptions(name: record.name.rawValue)
        options.mode = record.mode
        options.policy = try guestPolicy(record)
        options.vcpus = record.vcpus
        options.memoryMiB = record.memoryMiB
        options.cpuModel = record.cpuModel
        options.firmware = record.firmware.request
        options.kernelHashes = record.kernelHashes
        options.snp = record.snp ?? SNPLaunchOptions()
        options.tdx = record.tdx ?? TDXLaunchOptions()
        options.console = .none
        options.debugExit = false
        options.cdroms = record.source.kind == .cloudImage ? [vm.seedISO.path] : []
        options.userNetwork = record.userNetwork
        options.portForwards = record.portForwards ?? []
        options.qemuBinary = qemuBinary
        options.hostDecided = accelerator
        do {
            var spec = try LaunchBuilder(options: options).plan(guest).spec
            spec.firmware = record.firmware.launchFirmware(varsCopy: vm.ovmfVars.path)
            return spec
        } catch let error as LaunchError {
            throw VMError(error)
        }
    }

    func guestPolicy(_ record: VMRecord) throws -> GuestPolicy? {
        guard let text = record.policy else { return nil }
        do { return try GuestPolicy(parsing: text, mode: record.mode) } catch {
            throw VMError.io("state.json policy \(text): \(error)")
        }
    }

    func requireHostSupport(_ mode: ConfidentialMode) throws {
        do {
            try LaunchPlanner.requireHostSupport(for: mode)
        } catch let error as LaunchError {
            throw VMError(error)
        }
    }

    /// Resolves `auto` now (KVM only where a probe guest runs with this CPU model), passing on the notice.
    func resolveAccelerator(_ record: VMRecord) throws -> Accelerator {
        let spec = try launchSpec(record, in: store.directory(for: record.name), accelerator: .tcg)
        let (accelerator, notice) = LaunchPlanner.accelerator(record.acceleratorRequest, mode: record.mode,
                                                              cpuModel: spec.effectiveCPUModel, qemuBinary: qemuBinary, runner: runner)
        if let notice { self.notice(notice) }
        if record.mode.isConfidential && accelerator == .tcg {
            throw VMError(LaunchError.needsKVM(record.mode))
        }
        return accelerator
    }

    // MARK: start, stop

    /// Starts a stopped VM. With `waitFor`, returns once the console shows that text (or throws after `timeout`).
    @discardableResult
    public func start(_ name: VMName, waitFor: String? = nil, timeout: Double = 300) throws -> VMRecord {
        let (vm, lock, stored) = try store.open(name)
        defer { lock.release() }
        var record = stored
        let backend = backend(for: record)
        if backend.state(record, in: vm).running {
            throw VMError.wrongState("VM '\(name)' is already running")
        }
        try requireHostSupport(record.mode)
        let accelerator = try resolveAccelerator(record)
        let spec = try launchSpec(record, in: vm, accelerator: accelerator)
        let logStart = fileSize(vm.serialLog)
        record.pid = try backend.start(record, in: vm, spec: spec)
        record.status = .running
        record.activeAccelerator = accelerator
        record.startedAt = Date()
        record.stoppedAt = nil
        try store.save(record, in: vm)
        if let watcher = stopWatcher, record.backend == .qemu, let pid = record.pid {
            try VMDaemonSpawn.detach(watcher + ["vm", "_watch", name.rawValue, "--pid", String(pid)], log: vm.url.appendingPathComponent("watch.log"))
        }
        if let waitFor {
            try waitForConsole(waitFor, in: vm, after: record.backend == .qemu ? logStart : 0, timeout: timeout) {
                backend.state(record, in: vm).running
            }
        }
        return record
    }

    /// Waits until the QEMU that `start` recorded (`pid`) has gone, then records the stop, so state.json
    /// is true even when nobody runs another `cvm vm` command. `cvm vm start` runs this in a detached
    /// watcher process. Returns at once for libvirt VMs (libvirt keeps their state) and when the VM was
    /// restarted meanwhile (the new start has its own watcher).
    public func watch(_ name: VMName, pid: Int32, pollInterval: Double = 0.25) throws {
        let vm = store.directory(for: name)
        while QEMUVMBackend.isOurQEMU(pid, vm: vm) {
            usleep(useconds_t(pollInterval * 1_000_000))
        }
        let (_, lock, stored) = try store.open(name)
        defer { lock.release() }
        var record = stored
        guard record.backend == .qemu, record.status == .running, record.pid == pid else { return }
        try markStopped(&record, in: vm)
    }

    func fileSize(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path)[.size]) as? NSNumber)?.intValue ?? 0
    }

    /// Polls the serial log for `text` written after byte `offset` (QEMU appends; virtlogd starts afresh).
    func waitForConsole(_ text: String, in vm: VMDirectory, after offset: Int, timeout: Double, running: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        let needle = Array(text.utf8)
        while true {
            if let data = FileManager.default.contents(atPath: vm.serialLog.path), data.count > offset,
               needle.isEmpty || Array(data[offset...]).firstRange(of: needle) != nil {
                return
            }
            guard Date() < deadline else {
                let what = text.isEmpty ? "nothing appeared" : "'\(text)' did not appear"
                throw VMError.wrongState("VM '\(vm.name)' started, but \(what) on its console within \(Int(timeout)) s")
            }
            guard running() else { throw VMError.wrongState("VM '\(vm.name)' stopped before '\(text)' appeared on its console") }
            usleep(100_000)
        }
    }

    /// Stops a running VM; the report says when it had to stop it hard, and why.
    @discardableResult
    public func stop(_ name: VMName, force: Bool = false, timeout: Double = 60) throws -> VMStopReport {
        let (vm, lock, stored) = try store.open(name)
        defer { lock.release() }
        var record = stored
        let backend = backend(for: record)
        guard backend.state(record, in: vm).running else {
            if record.status == .running { try markStopped(&record, in: vm) }
            throw VMError.wrongState("VM '\(name)' is not running")
        }
        let forced = try backend.stop(record, in: vm, force: force, timeout: timeout)
        try markStopped(&record, in: vm)
        return VMStopReport(record: record, forced: forced)
    }

    func markStopped(_ record: inout VMRecord, in vm: VMDirectory) throws {
        record.status = .stopped
        record.pid = nil
        record.stoppedAt = Date()
        try store.save(record, in: vm)
    }

    // MARK: status, list, delete

    /// The recorded state checked against the hypervisor; a VM that stopped on its own is recorded as stopped.
    public func status(_ name: VMName) throws -> VMStatusReport {
        let (vm, lock, stored) = try store.open(name)
        defer { lock.release() }
        var record = stored
        let live = backend(for: record).state(record, in: vm)
        if !live.running && record.status == .running { try markStopped(&record, in: vm) }
        return report(record, in: vm, live: live)
    }

    public func list() throws -> [VMStatusReport] {
        try store.list().map { try status($0.name) }
    }

    func report(_ record: VMRecord, in vm: VMDirectory, live: VMRuntimeState) -> VMStatusReport {
        VMStatusReport(name: record.name.rawValue, status: live.running ? .running : (record.status == .created ? .created : .stopped),
                       detail: live.detail, backend: record.backend, mode: record.mode,
                       policy: record.policy ?? (try? launchSpec(record, in: vm, accelerator: .tcg).effectivePolicy?.hexValue) ?? nil,
                       vcpus: record.vcpus, memoryMiB: record.memoryMiB, accelerator: record.accelerator,
                       activeAccelerator: live.running ? record.activeAccelerator : nil, pid: live.pid, source: record.source,
                       firmware: record.firmware, directory: vm.url.path, serialLog: vm.serialLog.path,
                       address: Self.address(record),
                       createdAt: Self.timestamp(record.createdAt), startedAt: record.startedAt.map(Self.timestamp),
                       stoppedAt: record.stoppedAt.map(Self.timestamp))
    }

    /// "10.0.2.15 (user) 127.0.0.1:8080->80/tcp": QEMU user networking's fixed guest address and the
    /// published ports; "-" without a network.
    static func address(_ record: VMRecord) -> String {
        guard record.userNetwork else { return "-" }
        return (["10.0.2.15 (user)"] + (record.portForwards ?? []).map(\.description)).joined(separator: " ")
    }

    static func timestamp(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }

    /// Stops the VM hard if it runs, removes it from the hypervisor, then removes its directory.
    public func delete(_ name: VMName) throws {
        let (vm, lock, record) = try store.open(name)
        defer { lock.release() }
        let backend = backend(for: record)
        if backend.state(record, in: vm).running {
            try backend.stop(record, in: vm, force: true, timeout: 0)
        }
        try backend.undefine(record, in: vm)
        do {
            try FileManager.default.removeItem(at: vm.url)
        } catch {
            throw VMError.io("cannot remove \(vm.url.path): \(error.localizedDescription)")
        }
    }

    public func directory(_ name: VMName) throws -> (VMDirectory, VMRecord) {
        let vm = store.directory(for: name)
        return (vm, try store.load(vm))
    }
}
