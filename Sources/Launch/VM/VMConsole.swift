import Foundation

/// Attaches the terminal to a VM's serial console socket (QEMU backend). The terminal is put in raw
/// mode while attached; Ctrl-] detaches, as with `virsh console`.
public enum VMConsole {
    public static let detachByte: UInt8 = 0x1D

    /// Relays standard input to the socket and the socket to standard output until the user detaches,
    /// standard input ends, or the VM closes the console.
    public static func attach(socketPath: String) throws {
        let socket = try connect(socketPath)
        defer { close(socket) }
        var saved = termios()
        let isTerminal = isatty(STDIN_FILENO) == 1 && tcgetattr(STDIN_FILENO, &saved) == 0
        if isTerminal {
            var raw = saved
            cfmakeraw(&raw)
            tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        }
        defer { if isTerminal { tcsetattr(STDIN_FILENO, TCSANOW, &saved) } }
        var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0), pollfd(fd: socket, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 4096)
        var stdinOpen = true
        while true {
            fds[0].fd = stdinOpen ? STDIN_FILENO : -1
            guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { throw VMError.io("console poll failed: \(errnoText())") }
            if fds[1].revents != 0 {
                let count = read(socket, &buffer, buffer.count)
                if count <= 0 { return }
                writeAll(STDOUT_FILENO, buffer[..<count])
            }
            if stdinOpen, fds[0].revents != 0 {
                let count = read(STDIN_FILENO, &buffer, buffer.count)
                if count <= 0 {
                    stdinOpen = false
                    continue
                }
                let chunk = buffer[..<count]
                if let detach = chunk.firstIndex(of: detachByte) {
                    writeAll(socket, chunk[..<detach])
                    return
                }
                writeAll(socket, chunk)
            }
        }
    }

    static func connect(_ path: String) throws -> Int32 {
        switch UnixSocket.connect(path) {
        case .success(let descriptor):
            return descriptor
        case .failure(.pathTooLong):
            throw VMError.io("console socket path is too long: \(path)")
        case .failure(.failed(let code)):
            throw VMError.wrongState("cannot attach to the console at \(path): \(String(cString: strerror(code)))")
        }
    }

    static func writeAll(_ descriptor: Int32, _ bytes: ArraySlice<UInt8>) {
        var rest = bytes
        while !rest.isEmpty {
            let written = rest.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            rest = rest.dropFirst(written)
        }
    }

    /// Prints the serial log; with `follow`, keeps printing what is appended until `keepGoing` says stop.
    public static func printLog(at path: String, follow: Bool, keepGoing: () -> Bool = { true }) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw VMError.wrongState("no console log yet at \(path) (the VM has not been started)")
        }
        defer { try? handle.close() }
        while true {
            let data = handle.availableData
            if !data.isEmpty {
                writeAll(STDOUT_FILENO, ArraySlice([UInt8](data)))
                continue
            }
            guard follow, keepGoing() else { return }
            usleep(200_000)
        }
    }
}
