import Foundation
import HostProbe

/// Runs a program that daemonizes itself (QEMU with -daemonize) and waits for the foreground parent
/// only. Foundation's Process cannot be used: on Linux it learns of the child's exit through a socket
/// the child inherits, which the daemonized grandchild keeps open, so the parent would seem to run forever.
enum VMDaemonSpawn {
    /// Returns the parent's exit status; its standard output and error go to `log`.
    static func run(_ arguments: [String], log: URL, timeout: Double) throws -> Int32 {
        guard let executable = ProcessRunner.which(arguments[0]) else {
            throw VMError.unsupportedHere("\(arguments[0]) is not installed (apt-get install qemu-system-x86)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard rc == 0 else { throw VMError.io("cannot start \(executable): \(String(cString: strerror(rc)))") }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            guard Date() < deadline else {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                throw VMError.io("\(arguments[0]) did not finish starting within \(Int(timeout)) s")
            }
            usleep(20_000)
        }
        // WIFEXITED / WEXITSTATUS, spelled out: the macros are not imported into Swift.
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }
}
