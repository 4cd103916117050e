import Foundation

/// An exclusive flock(2) on a VM's lock file, held for the whole of one `cvm vm` command so two
/// commands on the same VM run one after the other. The descriptor is close-on-exec: QEMU started
/// while the lock is held must not inherit it, or the lock would outlive the command.
public final class VMLock {
    private var descriptor: Int32

    /// Waits up to `timeout` seconds for the lock.
    public init(path: String, name: String, timeout: Double) throws {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw VMError.io("cannot open the lock file \(path): \(errnoText())") }
        let deadline = Date().addingTimeInterval(timeout)
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let why = errnoText()
                close(descriptor)
                throw VMError.io("cannot lock \(path): \(why)")
            }
            guard Date() < deadline else {
                close(descriptor)
                throw VMError.busy(name)
            }
            usleep(20_000)
        }
        self.descriptor = descriptor
    }

    /// Releases the lock now rather than when the value goes away.
    public func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
