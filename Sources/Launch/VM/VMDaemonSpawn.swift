import Foundation
import HostOS

/// Runs a program that daemonizes itself (QEMU with -daemonize) and waits for the foreground parent
/// only. The daemon is meant to outlive cvm (`cvm vm start`), so this child is the one started without
/// PR_SET_PDEATHSIG; its output goes to a file, so no pipe is held open by the daemonized grandchild.
enum VMDaemonSpawn {
    /// Returns the parent's exit status; its standard output and error go to `log`.
    static func run(_ arguments: [String], log: URL, timeout: Double) throws -> Int32 {
        guard let executable = ProcessRunner.which(arguments[0]) else {
            throw VMError.unsupportedHere("\(arguments[0]) is not installed (apt-get install qemu-system-x86)")
        }
        let fd = open(log.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw VMError.io("cannot create \(log.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let result: ChildProcess.Result
        do {
            result = try ChildProcess(.init(executable: executable, arguments: Array(arguments.dropFirst()),
                                            standardOutput: .fileDescriptor(fd), standardError: .fileDescriptor(fd),
                                            dieWithParent: false)).wait(timeout: timeout)
        } catch {
            throw VMError.io("\(error)")
        }
        if result.timedOut { throw VMError.io("\(arguments[0]) did not finish starting within \(Int(timeout)) s") }
        return result.termination.status
    }

    /// Starts `arguments` in the background, detached from cvm (a shell starts it with `&` and exits),
    /// with its output in `log`: the watcher that records a VM's stop after cvm has gone.
    static func detach(_ arguments: [String], log: URL) throws {
        let status = try run(["sh", "-c", "\"$0\" \"$@\" </dev/null &"] + arguments, log: log, timeout: 10)
        if status != 0 { throw VMError.io("could not start \(arguments[0]) in the background (status \(status))") }
    }
}
