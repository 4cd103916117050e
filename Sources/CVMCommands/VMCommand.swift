import ArgumentParser
import Foundation
import Launch

/// `cvm vm ...`: persistent VMs, each a directory under $CVM_HOME/vms.
struct VMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "Persistent VMs: create from a bundle, disk or cloud image, then start, stop, console, status, list, delete.",
        discussion: """
        Each VM lives in its own directory under $CVM_HOME/vms (default ~/.local/share/cvmkit/vms): a \
        qcow2 overlay over the disk or cloud image you gave (the base image is never written), its own \
        copy of the OVMF variable store, the cloud-init NoCloud seed, the serial console log and \
        state.json. Commands on one VM take its lock, so two of them never interleave.

        Backends: qemu (cvm starts QEMU in the background, with a QMP socket and a console socket in the \
        VM directory) or libvirt (a persistent domain of the same name, through virsh).

        Examples:
          cvm vm create web --cloud-image debian-12-genericcloud-amd64.qcow2 \\
              --cloud-init user-data.yaml
          cvm vm start web --wait-for "login:"
          cvm vm console web
          cvm vm create snp1 --bundle out/linux --mode sev-snp --policy 0x30000 \\
              --backend qemu
          cvm vm stop web && cvm vm delete web
        """,
        subcommands: [VMCreateCommand.self, VMStartCommand.self, VMWatchCommand.self, VMStopCommand.self, VMConsoleCommand.self,
                      VMStatusCommand.self, VMListCommand.self, VMDeleteCommand.self]
    )
}

/// What every `cvm vm` subcommand shares: the store, the lifecycle, and error mapping.
enum VMCommandSupport {
    static func manager(qemu: String = "qemu-system-x86_64") -> VMManager {
        var manager = VMManager(store: .default(), qemuBinary: qemu, notice: { printError("notice: \($0)") })
        // The watcher that `vm start` leaves is this same executable (`cvm vm _watch`).
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            manager.stopWatcher = [executable]
        }
        return manager
    }

    static func name(_ raw: String) throws -> VMName {
        try failing { try VMName(raw) }
    }

    /// Runs `body`, turning VM errors into the CLI's one-line messages and exit codes.
    static func failing<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as VMError {
            throw CLIFailure(message: error.description, exitCode: error.exitCode)
        } catch let error as CloudInitError {
            throw CLIFailure.badInput(error.description)
        }
    }
}
