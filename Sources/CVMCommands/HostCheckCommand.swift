import ArgumentParser
import Foundation
import HostProbe
import SEVABI

struct HostCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check whether this host can launch SEV, SEV-ES and SEV-SNP guests, and how to fix it if not.",
        discussion: """
        Every check prints pass, fail, skip (could not be verified here) or info, a one-line reason and, \
        where one exists, a fix. The checks merge what `sevctl ok` and `snphost ok` look at (CPUID, MSRs, \
        /dev/sev firmware status, kvm_amd parameters) with what they miss (KVM really running a guest, \
        QEMU and libvirt capabilities, OVMF metadata, kernel version, memlock).

        With --mode the exit status says whether that mode can launch here: 0 yes, 1 no. \
        --record FILE saves every answer the host gave as JSON; --replay FILE checks a recorded host. \
        The --json shape is documented in docs/HOST-CHECK.md.
        """
    )

    @Option(help: "Judge one mode: sev, sev-es or sev-snp (exit 0 when it can launch, 1 when not).")
    var mode: ConfidentialMode?
    @Flag(help: "Print JSON (schema cvmkit.host-check/1).") var json = false
    @Option(help: "QEMU binary to inspect.") var qemu = "qemu-system-x86_64"
    @Option(help: "libvirt connection URI.") var libvirtURI = "qemu:///system"
    @Flag(help: "Do not boot the probe guest under QEMU+KVM.") var noGuestProbe = false
    @Option(help: "Write every answer this host gave to FILE (JSON) for replay.") var record: String?
    @Option(help: "Check a recorded host instead of this one.") var replay: String?

    func run() throws {
        var options = HostChecker.Options()
        options.qemuBinary = qemu
        options.libvirtURI = libvirtURI
        options.probeQEMUGuests = !noGuestProbe
        let report: HostReport
        if let replay {
            let recording: RecordedHost
            do { recording = try RecordedHost.load(path: replay) } catch { throw CLIFailure.badInput("\(error)") }
            report = HostChecker(sources: recording.sources, options: options).run()
        } else if let record {
            let recorder = HostRecorder(live: .live(), description: "recorded by cvm host check on \(ISO8601DateFormatter().string(from: Date()))")
            report = HostChecker(sources: recorder.sources, options: options).run()
            do {
                try recorder.result.encoded().write(to: URL(fileURLWithPath: record))
            } catch {
                throw CLIFailure.badInput("cannot write \(record): \(error.localizedDescription)")
            }
        } else {
            report = HostChecker(sources: .live(), options: options).run()
        }
        if json {
            try printJSON(report)
        } else {
            print(HostReportRenderer.render(report, mode: mode))
        }
        if let mode, !report.verdict(for: mode).ready {
            throw ExitCode(1)
        }
    }
}


/// The human table of a host report.
enum HostReportRenderer {
    static func render(_ report: HostReport, mode: ConfidentialMode?) -> String {
        var lines = ["Host \(report.host): \(report.cpu), Linux \(report.kernel)", ""]
        let idWidth = min(28, report.checks.map { $0.id.count }.max() ?? 10)
        for check in report.checks {
            let status = check.status.rawValue.uppercased().padding(toLength: 4, withPad: " ", startingAt: 0)
            var id = check.id
            if id.count > idWidth { id = String(id.prefix(idWidth - 1)) + "…" }
            lines.append("\(status)  \(id.padding(toLength: idWidth, withPad: " ", startingAt: 0))  \(check.reason)")
            if let hint = check.hint, check.status != .pass {
                lines.append(String(repeating: " ", count: idWidth + 8) + "fix: \(hint)")
            }
        }
        lines.append("")
        let modes = mode.map { [$0] } ?? ConfidentialMode.confidential
        if mode == nil {
            let none = report.noneVerdict
            lines.append(none.ready ? "none: ready (accelerator \(none.accelerator ?? "tcg"))" : "none: not ready (\(none.blockers.joined(separator: "; ")))")
        }
        for verdictMode in modes {
            let verdict = report.verdict(for: verdictMode)
            if verdict.ready {
                lines.append("\(verdictMode.displayName): ready")
            } else {
                lines.append("\(verdictMode.displayName): not ready (\(verdict.blockers.count) blocking: \(verdict.blockers.map { $0.split(separator: ":").first.map(String.init) ?? $0 }.joined(separator: ", ")))")
            }
        }
        return lines.joined(separator: "\n")
    }
}
