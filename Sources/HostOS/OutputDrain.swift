import Foundation

/// Reads one pipe from the child on a thread of its own until end of file, so the child never blocks
/// on a full pipe whatever the caller does. Bytes go to a handler (streaming) or into a buffer that
/// keeps the first `limit` bytes and counts the rest.
final class OutputDrain: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()
    private var dropped = 0
    private var stopAt: Date?
    private let done = DispatchSemaphore(value: 0)

    /// `handler` gets every chunk as it arrives; without one, up to `limit` bytes are kept.
    init(fileDescriptor: Int32, limit: Int, handler: (@Sendable (Data) -> Void)?) {
        let thread = Thread { [self] in
            defer {
                close(fileDescriptor)
                done.signal()
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                // Poll with a short timeout: a grandchild that inherited the pipe may keep it open after
                // the child is gone, and `finish(within:)` must still be able to end this loop.
                var entry = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
                let ready = poll(&entry, 1, 100)
                if ready < 0 && errno != EINTR { return }
                if ready <= 0 {
                    if let stopAt = lock.withLock({ self.stopAt }), Date() >= stopAt { return }
                    continue
                }
                let count = chunk.withUnsafeMutableBytes { read(fileDescriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { return }
                let data = Data(chunk[0..<count])
                if let handler {
                    handler(data)
                } else {
                    lock.withLock {
                        let room = max(0, limit - buffer.count)
                        buffer.append(data.prefix(room))
                        dropped += data.count - min(room, data.count)
                    }
                }
            }
        }
        thread.name = "cvm-drain"
        thread.start()
    }

    /// Waits for end of file, or gives up `seconds` after the child is gone (output held open by a
    /// grandchild); returns the kept bytes.
    func finish(within seconds: Double) -> Data {
        lock.withLock { if stopAt == nil { stopAt = Date().addingTimeInterval(seconds) } }
        done.wait()
        done.signal()
        return lock.withLock { buffer }
    }

    /// Bytes beyond the limit that were read and dropped.
    var droppedBytes: Int { lock.withLock { dropped } }
}
