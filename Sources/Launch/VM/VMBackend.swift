import Foundation
import HostOS
import HostProbe

/// What the hypervisor says about a VM right now.
public struct VMRuntimeState: Sendable, Hashable, Codable {
    public var running: Bool
    /// The hypervisor's own word: QMP's run state ("running", "paused", ...) or virsh domstate.
    public var detail: String
    public var pid: Int32?

    public init(running: Bool, detail: String, pid: Int32? = nil) {
        self.running = running
        self.detail = detail
        self.pid = pid
    }
}

/// One way of running a VM. Every method is called with the VM's lock held.
protocol VMBackend: Sendable {
    /// Makes the VM known to the hypervisor (libvirt: define); the QEMU backend has nothing to do.
    func define(_ record: VMRecord, in vm: VMDirectory, spec: LaunchSpec) throws
    /// Starts the VM in the background; returns QEMU's process id when the backend knows it.
    func start(_ record: VMRecord, in vm: VMDirectory, spec: LaunchSpec) throws -> Int32?
    func state(_ record: VMRecord, in vm: VMDirectory) -> VMRuntimeState
    /// ACPI power button, then a hard stop after `timeout` seconds; `force` stops hard at once.
    /// Returns nil when the guest powered off on the ACPI power button, else how it was stopped hard.
    func stop(_ record: VMRecord, in vm: VMDirectory, force: Bool, timeout: Double) throws -> String?
    /// Removes every trace from the hypervisor (libvirt: undefine with NVRAM). The VM is stopped.
    func undefine(_ record: VMRecord, in vm: VMDirectory) throws
}

/// Runs a tool and turns a failure into a `VMError` carrying its last line of output.
struct VMTool: Sendable {
    var runner: any CommandRunner

    @discardableResult
    func run(_ arguments: [String], timeout: Double = 120, hint: String = "") throws -> String {
        let output = try capture(arguments, timeout: timeout, hint: hint)
        guard output.status == 0, !output.timedOut else {
            throw VMError.toolFailed(tool: arguments.prefix(arguments.first == "virsh" ? 4 : 2).joined(separator: " "), status: output.status,
                                     message: output.timedOut ? "timed out after \(Int(timeout)) s" : (output.stderr.isEmpty ? output.stdout : output.stderr))
        }
        return output.stdout
    }

    func capture(_ arguments: [String], timeout: Double = 120, hint: String = "") throws -> CommandOutput {
        guard let output = runner.run(arguments, timeout: timeout) else {
            throw VMError.unsupportedHere("\(arguments.first ?? "") is not installed\(hint.isEmpty ? "" : " (\(hint))")")
        }
        return output
    }
}

/// How `cvm vm stop` ended a VM.
public struct VMStopReport: Sendable {
    public var record: VMRecord
    /// nil when the guest powered off on the ACPI power button, else how it was stopped hard and why.
    public var forced: String?
}
