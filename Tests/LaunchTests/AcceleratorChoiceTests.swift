import Foundation
import HostOS
import HostProbe
import Testing
@testable import Launch

/// `--accel auto` on a host whose /dev/kvm comes from kvm_pvm (KVM on page tables, no VMX/SVM).
@Suite struct AcceleratorChoiceTests {
    /// Counts the commands the planner would run (the KVM probe guest).
    final class CountingRunner: CommandRunner, @unchecked Sendable {
        private let lock = NSLock()
        private var commands: [[String]] = []
        var count: Int { lock.withLock { commands.count } }
        func run(_ arguments: [String], timeout: Double) -> CommandOutput? {
            lock.withLock { commands.append(arguments) }
            return nil
        }
    }

    func modules(_ names: [String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-modules-\(UUID().uuidString)")
        for name in names {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        return root
    }

    @Test func paravirtualKVMIsPassedOverForTCGWithTheReason() throws {
        let root = try modules(["kvm", "kvm_pvm"])
        defer { try? FileManager.default.removeItem(at: root) }
        let runner = CountingRunner()
        let (accelerator, notice) = LaunchPlanner.accelerator(.auto, mode: .none, cpuModel: nil, runner: runner, moduleRoot: root)
        #expect(accelerator == .tcg)
        #expect(notice?.contains("kvm_pvm") == true)
        #expect(notice?.contains("--accel kvm") == true)
        #expect(runner.count == 0)
    }

    @Test func hardwareKVMModulesAreProbedAsBefore() throws {
        for loaded in [["kvm", "kvm_amd"], ["kvm", "kvm_intel"], ["kvm", "kvm_pvm", "kvm_amd"], []] {
            let root = try modules(loaded)
            defer { try? FileManager.default.removeItem(at: root) }
            #expect(LaunchPlanner.paravirtualKVM(moduleRoot: root) == nil, "\(loaded)")
        }
    }

    @Test func explicitRequestsAndConfidentialModesAreNotOverridden() throws {
        let root = try modules(["kvm", "kvm_pvm"])
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(LaunchPlanner.accelerator(.kvm, mode: .none, cpuModel: nil, moduleRoot: root).0 == .kvm)
        #expect(LaunchPlanner.accelerator(.auto, mode: .sevSNP, cpuModel: nil, moduleRoot: root).0 == .kvm)
    }
}
