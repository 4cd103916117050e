import BenchReport
import Foundation
import Testing
@testable import Bench

@Suite struct ResultStoreTests {
    let cell = BenchCell(guest: "unikernel", mode: "none", vcpus: 1, memoryMiB: 256)

    func plan(reps: Int) -> BenchPlan {
        BenchPlan(guests: [BenchGuest(name: "unikernel", kind: "unikernel", path: "/x", digests: ["kernel": "ab"], bootProtocol: "pvh")],
                  modes: ["none"], workloads: ["boot"], vcpus: [1], memoryMiB: [256], repetitions: reps, warmups: 0,
                  cells: [cell], skipped: [], timeoutSeconds: 60)
    }

    func environment(qemu: String = "QEMU 7.2") -> BenchEnvironment {
        BenchEnvironment(hostname: "h", cpuModel: "c", cpuCount: 2, memoryMiB: 1024, kernelRelease: "6.1", accelerator: "tcg",
                         qemuVersion: qemu, ovmf: nil, ovmfSHA256: nil, libvirtVersion: nil, cvmVersion: "0.1.0",
                         command: "cvm bench", startedAt: "2026-11-27T00:00:00Z", modeVerdicts: ["none": "ready"])
    }

    func record(_ repetition: Int) -> BenchRunRecord {
        BenchRunRecord(runID: "\(cell.key)/boot/r\(repetition)", cell: cell, workloads: ["boot"], repetition: repetition, warmup: false,
                       startedAt: "2026-11-27T00:00:00Z", outcome: .ok, guestExitCode: 0, wallSeconds: 0.5,
                       timeline: [TimelineEvent(name: "qemu-start", seconds: 0, source: "host")], metrics: [], accelerator: "tcg")
    }

    @Test func anotherPlanOrHostIsRefusedUnlessRestart() throws {
        let directory = BenchFixture.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try ResultStore(directory: directory, plan: plan(reps: 2), environment: environment(), restart: false)
        try store.append(record(1))

        // The same plan resumes with the run already done.
        let same = try ResultStore(directory: directory, plan: plan(reps: 2), environment: environment(), restart: false)
        #expect(same.resumed)
        #expect(same.completed == [record(1).runID])

        #expect(throws: BenchError.resultMismatch("\(directory.path) holds results of another plan (repetitions changed); rerun with --restart to discard them, or choose another --out")) {
            try ResultStore(directory: directory, plan: plan(reps: 3), environment: environment(), restart: false)
        }
        do {
            _ = try ResultStore(directory: directory, plan: plan(reps: 2), environment: environment(qemu: "QEMU 9.2"), restart: false)
            Issue.record("another QEMU was accepted")
        } catch let error as BenchError {
            #expect(error.description.contains("QEMU QEMU 7.2 → QEMU 9.2"))
        }

        let restarted = try ResultStore(directory: directory, plan: plan(reps: 3), environment: environment(), restart: true)
        #expect(!restarted.resumed)
        #expect(restarted.completed.isEmpty)
        #expect(try Data(contentsOf: directory.appendingPathComponent(BenchFiles.runLog)).isEmpty)
    }

    @Test func refusesADirectoryThatIsNotOurs() throws {
        let directory = BenchFixture.temporaryDirectory("foreign")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: directory.appendingPathComponent("notes.txt"))
        #expect(throws: BenchError.self) {
            try ResultStore(directory: directory, plan: plan(reps: 1), environment: environment(), restart: false)
        }
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("notes.txt").path))
    }

    @Test func appendWritesOneLinePerRecord() throws {
        let directory = BenchFixture.temporaryDirectory("append")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try ResultStore(directory: directory, plan: plan(reps: 3), environment: environment(), restart: false)
        for repetition in 1...3 { try store.append(record(repetition)) }
        let lines = try BenchFixture.logLines(directory)
        #expect(try lines.map { try JSONDecoder().decode(BenchRunRecord.self, from: $0) } == (1...3).map(record))
    }

    @Test func scheduleAlternatesCellsAndHonoursGuestRepetitions() {
        var options = BenchOptions()
        options.guests = [GuestSpec(name: "a", kind: .unikernel, repetitions: 3), GuestSpec(name: "b", kind: .bundle(path: "/b"))]
        options.repetitions = 1
        options.warmups = 1
        let guests = options.guests.map { spec in
            PreparedGuest(spec: spec, record: BenchGuest(name: spec.name, kind: "x", path: "/", digests: [:], bootProtocol: "pvh"),
                          kernel: "/k", efiKernel: nil, initrd: nil, cmdline: "", minimumMemoryMiB: 16)
        }
        let cells = ["a", "b"].map { BenchCell(guest: $0, mode: "none", vcpus: 1, memoryMiB: 256) }
        let plan = BenchPlan(guests: guests.map(\.record), modes: ["none"], workloads: ["boot", "stream"], vcpus: [1], memoryMiB: [256],
                             repetitions: 1, warmups: 1, cells: cells, skipped: [], timeoutSeconds: 10)
        options.workloads = ["boot", "stream"]
        let ids = BenchEngine.schedule(plan: plan, guests: guests, options: options).map(\.runID)
        #expect(ids == [
            "a/none/1vcpu/256M/boot+stream/w1", "b/none/1vcpu/256M/boot/w1",
            "a/none/1vcpu/256M/boot+stream/r1", "b/none/1vcpu/256M/boot/r1",
            "a/none/1vcpu/256M/boot+stream/r2", "a/none/1vcpu/256M/boot+stream/r3",
        ])
    }
}
