import Foundation

/// Replaces a file in one step: the bytes go to a temporary file in the same directory, are flushed,
/// and the temporary file is renamed over the target. A reader sees the old file or the new one,
/// never half of either; a crash leaves at most a stray `.tmp` file.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL, mode: mode_t = 0o644) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw VMError.io("cannot create \(temporary.path): \(errnoText())") }
        var ok = true
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count, let base = buffer.baseAddress {
                let written = Glibc.write(descriptor, base + offset, buffer.count - offset)
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    ok = false
                    return
                }
                offset += written
            }
        }
        // The mode given to open(2) is filtered by the umask; secrets must end up exactly `mode`.
        ok = ok && fchmod(descriptor, mode) == 0 && fsync(descriptor) == 0
        let failure = errnoText()
        close(descriptor)
        guard ok, rename(temporary.path, url.path) == 0 else {
            let why = ok ? errnoText() : failure
            unlink(temporary.path)
            throw VMError.io("cannot write \(url.path): \(why)")
        }
    }
}

func errnoText() -> String {
    String(cString: strerror(errno))
}
