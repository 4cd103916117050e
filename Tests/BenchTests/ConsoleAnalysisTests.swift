import BenchReport
import Foundation
import Launch
import Testing
@testable import Bench

/// Console lines captured from real boots under QEMU/TCG on the development host: the unikernel with
/// `run=all stream.size=1M chase.steps=64K exits.iters=1000` (PVH), and the Linux guest running
/// cvm-workloads (kernel log excerpt, cvm-init markers, cvm-workloads output).
enum CapturedConsole {
    static let unikernel = """
    cvmuk info boot=pvh tsc_hz=5081056748 tsc_source=pit usable_bytes=266813440 image_bytes=64920 avx=0
    cvmuk stage name=entry tsc=509925997 us=0
    cvmuk stage name=memory-ready tsc=554698032 us=8811
    cvmuk stage name=workload-start tsc=598374035 us=17407
    cvmuk result workload=stream kernel=copy array_bytes=1048576 ticks=28043116 mb_per_s=380.0 valid=1
    cvmuk result workload=stream kernel=scale array_bytes=1048576 ticks=34912647 mb_per_s=305.2 valid=1
    cvmuk result workload=stream kernel=add array_bytes=1048576 ticks=64159816 mb_per_s=249.1 valid=1
    cvmuk result workload=stream kernel=triad array_bytes=1048576 ticks=75491801 mb_per_s=211.7 valid=1
    cvmuk result workload=chase bytes=8388608 steps=65536 cycles_per_load=2609.69 ns_per_load=513.61 end_line=59115
    cvmuk result workload=sha256 bytes=1048576 digest=631b84027d6b9e52b539c4e8373622d23032dfadc64d60af87339c9037e4f769 ticks=495471315 mb_per_s=10.75
    cvmuk result workload=ep m=16 sx=77.723214542 sy=27.905540155 accepted=51285 ticks=476805354 mops=1.397
    cvmuk result workload=exits op=cpuid iterations=1000 cycles_per_op=280.1
    cvmuk result workload=exits op=pio iterations=1000 cycles_per_op=490.4
    cvmuk result workload=exits op=rdmsr iterations=1000 cycles_per_op=254.8
    cvmuk result workload=exits op=rdtsc iterations=1000 cycles_per_op=205.8
    cvmuk result workload=touch pages=1024 cycles_per_page=854.9
    cvmuk stage name=workload-end tsc=3382494573 us=565348
    cvmuk exit status=0 name=success
    """

    /// (host arrival seconds, line) of a Linux guest boot.
    static let linux: [(Double, String)] = [
        (14.957, "[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0)"),
        (14.957, "[    0.000000] Command line: console=ttyS0 panic=-1 cvm.run=\"/bin/cvm-workloads run=noop\""),
        (14.994, "[    0.004000] APIC: Switch to symmetric I/O mode setup"),
        (19.393, "[    3.221599] ACPI: PCI: Interrupt link LNKF configured for IRQ 10"),
        (22.611, "cvm-init: t=6.389094 init-start version=1"),
        (22.625, "cvm-init: t=6.410048 mounts-done"),
        (22.705, "cvm-init: t=6.491200 module name=sev-guest.ko result=failed error=\"No such device\""),
        (22.915, "cvm-init: t=6.702989 modules-done loaded=12 failed=1"),
        (22.920, "cvm-init: t=6.707414 attestation sev-guest=absent tsm-report=absent"),
        (22.929, "cvm-init: t=6.714256 run-start argv0=/bin/sh console=/dev/console workdir=/ uid=0 gid=0"),
        (22.960, "cvmuk info boot=linux tsc_hz=2994371000 tsc_source=clock-monotonic"),
        (22.961, "cvmuk stage name=workload-start tsc=91234567 us=10112"),
        (23.001, "cvmuk result workload=sha256 bytes=1048576 digest=631b84027d6b9e52b539c4e8373622d23032dfadc64d60af87339c9037e4f769 ticks=269234000 mb_per_s=11.67"),
        (23.002, "cvmuk stage name=workload-end tsc=391234567 us=110312"),
        (23.003, "cvmuk exit status=0 name=success"),
        (23.009, "cvm-init: t=6.795769 run-exit code=0"),
        (23.009, "cvm-init: t=6.797197 poweroff code=0"),
    ]

    static func lines(_ text: String, start: Double = 0.5, step: Double = 0.01) -> [(time: Double, text: String)] {
        text.split(separator: "\n").enumerated().map { (start + Double($0.offset) * step, String($0.element)) }
    }
}

@Suite struct ConsoleAnalysisTests {
    func metric(_ metrics: [BenchMetric], _ key: String) -> BenchMetric? { metrics.first { $0.key == key } }

    @Test func unikernelMetricsFromResultLines() throws {
        let console = CapturedConsole.lines(CapturedConsole.unikernel)
        let analysis = RunAnalysis.analyze(console: console, firmwareStart: 0.25, exitSeconds: 0.8,
                                           workloads: ["boot", "stream", "chase", "sha256", "ep", "exits", "touch"])
        #expect(analysis.failure == nil)
        let metrics = analysis.metrics
        #expect(metric(metrics, "stream.triad")?.value == 211.7)
        #expect(metric(metrics, "stream.triad")?.unit == "MB/s")
        #expect(metric(metrics, "stream.triad")?.better == .higherIsBetter)
        #expect(metric(metrics, "stream.copy")?.value == 380.0)
        #expect(metric(metrics, "chase.latency")?.value == 513.61)
        #expect(metric(metrics, "chase.latency")?.better == .lowerIsBetter)
        #expect(metric(metrics, "sha256.throughput")?.value == 10.75)
        #expect(metric(metrics, "ep.throughput")?.value == 1.397)
        #expect(metric(metrics, "exits.cpuid")?.value == 280.1)
        // 280.1 cycles at the reported 5081056748 Hz.
        let nanoseconds = try #require(metric(metrics, "exits.cpuid-ns")?.value)
        #expect(abs(nanoseconds - 280.1 / 5_081_056_748 * 1e9) < 1e-9)
        #expect(metric(metrics, "touch.cycles-per-page")?.value == 854.9)
        #expect(metrics.allSatisfy { !$0.unit.isEmpty && $0.value.isFinite })

        // Boot: kernel entry is the first console line (0.5 s), ready the workload-start stage (4th line).
        #expect(metric(metrics, "boot.to-kernel")?.value == 0.5)
        let ready = try #require(metric(metrics, "boot.to-ready")?.value)
        #expect(abs(ready - 0.53) < 1e-9)
        #expect(metric(metrics, "boot.qemu-setup")?.value == 0.25)
        // to-exit leaves out the workloads: ready 0.53 → done 0.66 (17th line) of an exit at 0.8 s.
        let toExit = try #require(metric(metrics, "boot.to-exit")?.value)
        #expect(abs(toExit - (0.8 - (0.66 - 0.53))) < 1e-9)
        #expect(metric(metrics, "boot.guest-ready")?.value == 0.017407)

        #expect(analysis.timeline.map(\.name) == ["qemu-start", "firmware", "kernel-entry", "ready", "workload-done", "exit"])
        #expect(analysis.guestTimeline.map(\.name) == ["entry", "memory-ready", "workload-start", "workload-end"])
        #expect(analysis.guestTimeline.last?.seconds == 0.565348)
    }

    @Test func linuxTimelineFromKernelLogAndInitMarkers() throws {
        let console = CapturedConsole.linux.map { (time: $0.0, text: $0.1) }
        let analysis = RunAnalysis.analyze(console: console, firmwareStart: 0.22, exitSeconds: 23.05, workloads: ["boot", "sha256"])
        #expect(analysis.failure == nil)
        let events = Dictionary(uniqueKeysWithValues: analysis.timeline.map { ($0.name, $0.seconds) })
        #expect(events["kernel-entry"] == 14.957)
        #expect(events["ready"] == 22.929)            // cvm-init run-start
        #expect(events["workload-done"] == 23.002)    // cvm-workloads' workload-end stage
        #expect(metric(analysis.metrics, "sha256.throughput")?.value == 11.67)
        #expect(metric(analysis.metrics, "boot.guest-ready")?.value == 6.714256)
        // cvm-workloads' stage times count from its own start: not in the guest timeline.
        let names = analysis.guestTimeline.map(\.name)
        #expect(names.contains("init-start") && names.contains("run-start") && names.contains("poweroff"))
        #expect(!names.contains("workload-start"))
    }

    @Test func lateConsoleMovesKernelEntryBack() {
        // The first line arrives 3 s after the kernel started (stamp 3.0): entry is at most 10 − 3 = 7.
        let console = [(time: 10, text: "[    3.000000] serial8250: ttyS0 at I/O 0x3f8"),
                       (time: 10.1, text: "[    3.050000] Freeing unused kernel memory")]
        let analysis = RunAnalysis.analyze(console: console, firmwareStart: 1, exitSeconds: 11, workloads: ["boot"])
        #expect(analysis.timeline.first { $0.name == "kernel-entry" }?.seconds == 7)
    }

    @Test func failuresAreNamed() {
        let invalid = CapturedConsole.lines("""
        cvmuk info boot=pvh tsc_hz=3000000000 tsc_source=pit usable_bytes=1 image_bytes=1 avx=0
        cvmuk result workload=stream kernel=copy array_bytes=64 ticks=1 mb_per_s=1.0 valid=0
        """)
        #expect(RunAnalysis.analyze(console: invalid, firmwareStart: nil, exitSeconds: 1, workloads: ["stream"]).failure == "stream's self-check failed")
        let missing = CapturedConsole.lines("cvmuk stage name=workload-start tsc=1 us=1")
        #expect(RunAnalysis.analyze(console: missing, firmwareStart: nil, exitSeconds: 1, workloads: ["boot", "chase"]).failure == "no result line for chase")
        let error = CapturedConsole.lines("cvmuk error reason=command-line token=bogus")
        #expect(RunAnalysis.analyze(console: error, firmwareStart: nil, exitSeconds: 1, workloads: ["boot"]).failure == "guest error: reason=command-line token=bogus")
        let initError: [(time: Double, text: String)] = [(time: 1, text: "cvm-init: t=1.0 error message=\"cannot exec /bin/x\"")]
        #expect(RunAnalysis.analyze(console: initError, firmwareStart: nil, exitSeconds: 2, workloads: ["boot"]).failure == "guest init: cannot exec /bin/x")
    }

    @Test func unsupportedExitOperationsAreLeftOut() {
        let results = [GuestResultLine(kind: "result", fields: ["workload": "exits", "op": "rdmsr", "cycles_per_op": "unsupported"])]
        #expect(RunAnalysis.workloadMetrics(results, tscHz: 1e9).isEmpty)
    }

    @Test func guestWordsAreTheSameForBothGuests() {
        let words = WorkloadCatalog.guestWords(["boot", "chase", "stream"], parameters: ["stream.size": "8M"])
        #expect(words.hasPrefix("run=stream,chase "))
        #expect(words.contains(" stream.size=8M"))
        #expect(words.contains(" chase.steps=1M"))
        #expect(WorkloadCatalog.guestWords(["boot"], parameters: [:]).hasPrefix("run=noop "))
    }
}
