import BenchReport
import Foundation
import Testing

@Suite struct BenchModelTests {
    @Test func cellKeyAndOrder() {
        let a = BenchCell(guest: "linux", mode: "none", vcpus: 1, memoryMiB: 256)
        let b = BenchCell(guest: "linux", mode: "sev-snp", vcpus: 1, memoryMiB: 256)
        #expect(a.key == "linux/none/1vcpu/256M")
        #expect(a < b)
    }

    @Test func runRecordRoundTripsThroughJSON() throws {
        let record = BenchRunRecord(
            runID: "unikernel/none/1vcpu/256M/boot/r1", cell: BenchCell(guest: "unikernel", mode: "none", vcpus: 1, memoryMiB: 256),
            workloads: ["boot"], repetition: 1, warmup: false, startedAt: "2026-11-27T00:00:00Z", outcome: .ok,
            guestExitCode: 0, wallSeconds: 0.5, timeline: [TimelineEvent(name: "exit", seconds: 0.5, source: "host")],
            metrics: [BenchMetric(workload: "boot", name: "to-ready", value: 0.1, unit: "s", better: .lowerIsBetter)], accelerator: "tcg")
        let data = try JSONEncoder().encode(record)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["schema"] as? String == "cvmkit.bench.run/1")
        #expect(object["outcome"] as? String == "ok")
        #expect(try JSONDecoder().decode(BenchRunRecord.self, from: data) == record)
    }
}
