import Foundation
import HostProbe

/// What a VM needs from the host before anything is created or started: the host check's verdict for
/// its confidential mode, and a working accelerator.
public struct VMHostGate: Sendable {
    /// Produces the host check report; replaced in tests by a recorded host.
    public var report: @Sendable () -> HostReport
    /// Whether a minimal guest really runs under QEMU+KVM with a CPU model (nil: QEMU's default).
    public var kvmRuns: @Sendable (_ cpuModel: String?) -> Bool

    public init(report: @escaping @Sendable () -> HostReport, kvmRuns: @escaping @Sendable (String?) -> Bool) {
        self.report = report
        self.kvmRuns = kvmRuns
    }

    /// This machine, with the given QEMU binary.
    public static func live(qemuBinary: String = "qemu-system-x86_64") -> VMHostGate {
        VMHostGate(
            report: {
                var options = HostChecker.Options()
                options.qemuBinary = qemuBinary
                return HostChecker(sources: .live(), options: options).run()
            },
            kvmRuns: { cpuModel in
                guard LocalFileSystem().access("/dev/kvm") == .readWrite else { return false }
                let outcome = try? QEMUGuestProbe.withBIOS { bios in
                    QEMUGuestProbe.run(using: ProcessRunner(), binary: qemuBinary, accelerator: "kvm", cpuModel: cpuModel, biosPath: bios)
                }
                return outcome?.ran == true
            })
    }

    /// Refuses a confidential mode the host check says cannot launch here, with the check's reasons.
    public func requireReady(_ mode: ConfidentialMode) throws {
        guard let sevMode = mode.sevMode else { return }
        let verdict = report().verdict(for: sevMode)
        guard verdict.ready else {
            let reasons = verdict.blockers.prefix(3).joined(separator: "; ")
            let more = verdict.blockers.count > 3 ? "; and \(verdict.blockers.count - 3) more" : ""
            throw VMError.unsupportedHere("\(sevMode.displayName) cannot launch on this host: \(reasons)\(more) (details: cvm host check --mode \(sevMode.rawValue))")
        }
    }

    /// The accelerator to use now, and a notice when `auto` fell back to emulation.
    public func resolve(_ requested: VMAccelerator, mode: ConfidentialMode, cpuModel: String?) throws -> (Accelerator, notice: String?) {
        switch requested {
        case .tcg:
            if mode.isConfidential {
                throw VMError.unsupportedHere("\(mode.rawValue) needs KVM on an SEV host; TCG cannot run confidential guests")
            }
            return (.tcg, nil)
        case .kvm:
            return (.kvm, nil)
        case .auto:
            if kvmRuns(cpuModel) { return (.kvm, nil) }
            if mode.isConfidential {
                throw VMError.unsupportedHere("\(mode.rawValue) needs KVM, and no guest runs under KVM here")
            }
            return (.tcg, "KVM cannot run guests here: using TCG (emulation); timings are not representative")
        }
    }
}
