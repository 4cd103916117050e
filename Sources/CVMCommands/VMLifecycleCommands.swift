import ArgumentParser
import Foundation
import Launch

struct VMStartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start a stopped VM in the background.",
        discussion: """
        --wait returns once the guest has written to its serial console; --wait-for TEXT once TEXT \
        appears there (e.g. "login:"). Both give up after --timeout seconds (exit 1).
        """
    )

    @Argument(help: "VM name.") var name: String
    @Flag(help: "Wait until the guest writes to its console.") var wait = false
    @Option(help: "Wait until this text appears on the console.") var waitFor: String?
    @Option(help: "Seconds to wait with --wait or --wait-for.") var timeout: Double = 300
    @Option(help: "QEMU binary.") var qemu = "qemu-system-x86_64"

    func run() throws {
        let vmName = try VMCommandSupport.name(name)
        let manager = VMCommandSupport.manager(qemu: qemu)
        let expected = waitFor ?? (wait ? "" : nil)
        let record = try VMCommandSupport.failing { try manager.start(vmName, waitFor: expected, timeout: timeout) }
        let pid = record.pid.map { ", pid \($0)" } ?? ""
        print("started VM \(record.name) (\(record.backend.rawValue), \(record.activeAccelerator?.rawValue ?? "?")\(pid))")
    }
}

/// Hidden: the detached watcher `vm start` leaves behind; it records the stop once QEMU has gone.
struct VMWatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_watch",
        abstract: "Record a VM's stop when its QEMU exits (started by `cvm vm start`).",
        shouldDisplay: false
    )

    @Argument(help: "VM name.") var name: String
    @Option(help: "The QEMU process to wait for.") var pid: Int32

    func run() throws {
        let vmName = try VMCommandSupport.name(name)
        try VMCommandSupport.failing { try VMCommandSupport.manager().watch(vmName, pid: pid) }
    }
}

struct VMStopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop a VM: ACPI power button, then a hard stop after --timeout seconds.",
        discussion: "QEMU backend: QMP system_powerdown, then quit. libvirt: virsh shutdown, then destroy. --force stops hard at once."
    )

    @Argument(help: "VM name.") var name: String
    @Flag(help: "Stop at once (QMP quit / virsh destroy).") var force = false
    @Option(help: "Seconds the guest gets to power off by itself.") var timeout: Double = 60

    func run() throws {
        let vmName = try VMCommandSupport.name(name)
        let report = try VMCommandSupport.failing { try VMCommandSupport.manager().stop(vmName, force: force, timeout: timeout) }
        print(report.forced == nil ? "stopped VM \(vmName) (the guest powered off)" : "stopped VM \(vmName) hard: \(report.forced ?? "")")
    }
}

struct VMConsoleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Attach to a VM's serial console, or print its console log.",
        discussion: """
        QEMU backend: attaches this terminal to the console socket; Ctrl-] detaches. libvirt backend: \
        use `virsh -c URI console NAME` (printed), or --log / --follow to read the log virtlogd keeps.
        """
    )

    @Argument(help: "VM name.") var name: String
    @Flag(help: "Print the console log and exit.") var log = false
    @Flag(help: "Print the console log and keep printing what the guest writes (Ctrl-C ends).") var follow = false

    func run() throws {
        let vmName = try VMCommandSupport.name(name)
        let manager = VMCommandSupport.manager()
        try VMCommandSupport.failing {
            let (vm, record) = try manager.directory(vmName)
            if log || follow {
                try VMConsole.printLog(at: vm.serialLog.path, follow: follow)
                return
            }
            switch record.backend {
            case .libvirt:
                print("VM \(vmName) runs under libvirt: attach with  virsh -c \(record.libvirtURI ?? "qemu:///system") console \(vmName)")
                print("or read its console log with  cvm vm console \(vmName) --follow  (\(vm.serialLog.path))")
            case .qemu:
                guard try manager.status(vmName).status == .running else {
                    throw VMError.wrongState("VM '\(vmName)' is not running (its log: cvm vm console \(vmName) --log)")
                }
                printError("Connected to \(vmName)'s serial console; Ctrl-] detaches.")
                try VMConsole.attach(socketPath: vm.consoleSocket.path)
            }
        }
    }
}

struct VMStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a VM's state as the hypervisor reports it, and its definition."
    )

    @Argument(help: "VM name.") var name: String
    @Flag(help: "Print JSON (schema cvmkit.vm-status/1).") var json = false

    func run() throws {
        let vmName = try VMCommandSupport.name(name)
        let report = try VMCommandSupport.failing { try VMCommandSupport.manager().status(vmName) }
        if json {
            try printJSON(report)
            return
        }
        let running = report.activeAccelerator.map { " under \($0.rawValue)" } ?? ""
        var lines = ["\(report.name): \(report.status.rawValue) (\(report.detail))\(running)\(report.pid.map { ", pid \($0)" } ?? "")"]
        lines.append("  backend   \(report.backend.rawValue)")
        lines.append("  mode      \(report.mode.rawValue)\(report.policy.map { ", policy \($0)" } ?? "")")
        lines.append("  size      \(report.vcpus) vCPU, \(report.memoryMiB) MiB, accelerator \(report.accelerator)")
        lines.append("  source    \(report.source.kind.rawValue) \(report.source.origin)")
        lines.append("  firmware  \(report.firmware.kind.rawValue)\(report.firmware.image.map { " \($0)" } ?? "")")
        lines.append("  address   \(report.address)")
        lines.append("  directory \(report.directory)")
        print(lines.joined(separator: "\n"))
    }
}

struct VMListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List VMs and their state.")

    @Flag(help: "Print JSON (an array of the status objects).") var json = false

    func run() throws {
        let reports = try VMCommandSupport.failing { try VMCommandSupport.manager().list() }
        if json {
            try printJSON(reports)
            return
        }
        guard !reports.isEmpty else {
            print("no VMs (create one with cvm vm create)")
            return
        }
        let width = max(4, reports.map(\.name.count).max() ?? 4)
        print("NAME".padding(toLength: width, withPad: " ", startingAt: 0) + "  STATE     BACKEND  MODE     vCPU  MEMORY    ADDRESS")
        for report in reports {
            let state = report.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
            let backend = report.backend.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)
            let mode = report.mode.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)
            let memory = "\(report.memoryMiB) MiB".padding(toLength: 8, withPad: " ", startingAt: 0)
            print("\(report.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(state)  \(backend)  \(mode)  \(String(report.vcpus).padding(toLength: 4, withPad: " ", startingAt: 0))  \(memory)  \(report.address)")
        }
    }
}

struct VMDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a VM: stop it hard if running, undefine it (libvirt, with NVRAM), remove its directory."
    )

    @Argument(help: "VM name.") var name: String

    func run() throws {
        let vmName = try VMCommandSupport.name(name)
        try VMCommandSupport.failing { try VMCommandSupport.manager().delete(vmName) }
        print("deleted VM \(vmName)")
    }
}
