import Foundation
import HostOS
import HostProbe
@testable import Launch
import SEVABI
import Testing

/// A VM home in a temporary directory, a blank base disk, and the test BIOS that prints a line on the
/// serial port and then halts forever (no isa-debug-exit): a guest that stays up until stopped.
struct VMTestBed {
    static let readyLine = "cvm-vm-ready"
    let home: URL
    let manager: VMManager
    let bios: String
    let baseDisk: String

    init() throws {
        home = try TestGuest.scratch()
        // libvirt's QEMU must reach the files when it does not run as root.
        chmod(home.path, 0o755)
        manager = VMManager(store: VMStore(root: home.appendingPathComponent("vms")))
        bios = home.appendingPathComponent("ready.bios").path
        try Data(TestGuest.bios(lines: [Self.readyLine], exitCode: nil)).write(to: URL(fileURLWithPath: bios))
        baseDisk = home.appendingPathComponent("base.qcow2").path
        let created = ProcessRunner().run(["qemu-img", "create", "-q", "-f", "qcow2", baseDisk, "16M"], timeout: 30)
        guard created?.status == 0 else { throw VMError.io("qemu-img create failed: \(created?.stderr ?? "qemu-img missing")") }
    }

    func request(_ name: String, backend: VMBackendKind = .qemu) throws -> VMCreateRequest {
        var request = VMCreateRequest(name: try VMName(name), source: .disk(baseDisk))
        request.memoryMiB = 32
        request.accelerator = .tcg
        request.firmware = .path(bios)
        request.backend = backend
        return request
    }

    func vm(_ name: String) throws -> VMDirectory { manager.store.directory(for: try VMName(name)) }

    /// Live (non-zombie) processes whose command line names this VM's QMP socket.
    func qemuProcesses(_ name: String) throws -> [Int32] {
        let vm = try vm(name)
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
            .filter { QEMUVMBackend.isOurQEMU($0, vm: vm) }
    }

    func tearDown() {
        for name in (try? manager.store.list().map(\.name)) ?? [] { try? manager.delete(name) }
        try? FileManager.default.removeItem(at: home)
    }
}

struct VMLifecycleQEMUTests {
    @Test func createStartStatusStopDeleteUnderTCG() throws {
        let bed = try VMTestBed()
        defer { bed.tearDown() }
        let name = try VMName("life-1")
        let created = try bed.manager.create(try bed.request("life-1"))
        #expect(created.status == .created)
        let vm = try bed.vm("life-1")
        for file in [vm.stateFile, vm.disk, vm.ovmfVars, vm.lockFile] {
            #expect(FileManager.default.fileExists(atPath: file.path), "\(file.lastPathComponent) missing")
        }
        // The overlay's backing file is the base image, in its detected format.
        let info = try #require(ProcessRunner().run(["qemu-img", "info", "--output=json", vm.disk.path], timeout: 30))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])
        #expect(json["format"] as? String == "qcow2")
        #expect(json["backing-filename"] as? String == bed.baseDisk)
        #expect(json["backing-filename-format"] as? String == "qcow2")

        let started = try bed.manager.start(name, waitFor: VMTestBed.readyLine, timeout: 60)
        #expect(started.activeAccelerator == .tcg)
        let running = try bed.manager.status(name)
        #expect(running.status == .running)
        #expect(running.detail == "running")
        #expect(try bed.qemuProcesses("life-1") == [try #require(running.pid)])
        #expect(try String(contentsOf: vm.serialLog, encoding: .utf8).contains(VMTestBed.readyLine))
        #expect(throws: VMError.wrongState("VM 'life-1' is already running")) { try bed.manager.start(name) }

        // The test BIOS ignores the ACPI power button: stop falls back to QMP quit after the timeout, and says so.
        let forced = try bed.manager.stop(name, timeout: 1).forced
        #expect(forced == "the guest did not power off within 1 s of the ACPI power button; QEMU quit over QMP")
        #expect(try bed.qemuProcesses("life-1").isEmpty)
        #expect(try bed.manager.status(name).status == .stopped)
        #expect(throws: VMError.self) { try bed.manager.stop(name) }

        try bed.manager.start(name, waitFor: VMTestBed.readyLine, timeout: 60)
        try bed.manager.delete(name)
        #expect(try bed.qemuProcesses("life-1").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: vm.url.path))
        #expect(throws: VMError.notFound("life-1")) { try bed.manager.status(name) }
    }

    @Test func aGuestThatDiesIsReportedStopped() throws {
        let bed = try VMTestBed()
        defer { bed.tearDown() }
        let name = try VMName("dies")
        try bed.manager.create(try bed.request("dies"))
        let pid = try #require(try bed.manager.start(name).pid)
        kill(pid, SIGKILL)
        _ = QEMUVMBackend.waitForExit(pid, vm: try bed.vm("dies"), timeout: 10)
        let report = try bed.manager.status(name)
        #expect(report.status == .stopped)
        #expect(try bed.manager.store.load(try bed.vm("dies")).status == .stopped)
    }

    /// Two `start`s and a `status` race on one VM: exactly one QEMU runs, exactly one start succeeds,
    /// and state.json stays a valid record that says running.
    @Test func concurrentCommandsOnOneVMDoNotCorruptItsState() async throws {
        let bed = try VMTestBed()
        defer { bed.tearDown() }
        let name = try VMName("race")
        try bed.manager.create(try bed.request("race"))
        let manager = bed.manager
        let outcomes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    do { try manager.start(name); return "started" } catch { return "\(error)" }
                }
            }
            group.addTask { (try? manager.status(name)).map { "status \($0.status)" } ?? "status failed" }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == "started" }.count == 1, "\(outcomes)")
        #expect(outcomes.contains("VM 'race' is already running"), "\(outcomes)")
        #expect(try bed.qemuProcesses("race").count == 1)
        let record = try bed.manager.store.load(try bed.vm("race"))
        #expect(record.status == .running)
        #expect(record.pid == (try bed.qemuProcesses("race")).first)
    }

    @Test func confidentialModesAreRefusedWithTheHostChecksReason() throws {
        let bed = try VMTestBed()
        defer { bed.tearDown() }
        var options = HostChecker.Options()
        options.probeQEMUGuests = false
        let report = HostChecker(sources: .live(), options: options).run()
        for mode in [ConfidentialMode.sev, .sevES, .sevSNP] {
            var request = try bed.request("cvm-\(mode.rawValue)")
            request.mode = mode
            if report.verdict(for: mode).ready { continue }
            #expect {
                try bed.manager.create(request)
            } throws: { error in
                guard let error = error as? VMError, case .unsupportedHere(let why) = error else { return false }
                return why.contains("cannot launch on this host") && error.exitCode == 3
            }
            #expect(!FileManager.default.fileExists(atPath: try bed.vm("cvm-\(mode.rawValue)").url.path))
        }
    }

    @Test func aCloudImageGetsAnOverlayASeedAndUserNetworking() throws {
        let bed = try VMTestBed()
        defer { bed.tearDown() }
        let userData = try CloudInitUserData("#cloud-config\nhostname: ignored\n")
        var request = try bed.request("cloud_1")
        request.source = .cloudImage(bed.baseDisk, userData: userData, networkConfig: nil)
        let record = try bed.manager.create(request)
        let vm = try bed.vm("cloud_1")
        #expect(record.source.kind == .cloudImage)
        #expect(record.userNetwork)
        #expect(FileManager.default.fileExists(atPath: vm.seedISO.path))
        #expect(try String(contentsOf: vm.cloudInitDirectory.appendingPathComponent("meta-data"), encoding: .utf8)
            .contains("local-hostname: cloud-1\n"))
        // QEMU accepts the seed CD-ROM and the user network next to the disk.
        try bed.manager.start(record.name, waitFor: VMTestBed.readyLine, timeout: 60)
        let cmdline = try String(contentsOf: vm.file("qemu.cmdline"), encoding: .utf8)
        #expect(cmdline.contains("seed.iso"))
        #expect(cmdline.contains("user,id=net0"))
        try bed.manager.delete(record.name)
        #expect(try bed.qemuProcesses("cloud_1").isEmpty)
    }

    @Test func anOutOfRangeVCPUCountIsBadInputBeforeAnythingIsMade() throws {
        let bed = try VMTestBed()
        defer { bed.tearDown() }
        var request = try bed.request("nomode")
        request.vcpus = 0
        #expect(throws: VMError.self) { try bed.manager.create(request) }
        #expect(!FileManager.default.fileExists(atPath: try bed.vm("nomode").url.path))
    }
}
