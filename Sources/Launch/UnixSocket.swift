import Foundation

/// Connecting to a Unix stream socket, shared by the QMP client and the VM console.
enum UnixSocket {
    enum ConnectError: Error {
        /// The path does not fit `sockaddr_un`.
        case pathTooLong
        /// socket() or connect() failed with this errno.
        case failed(errno: Int32)
    }

    /// A connected descriptor, or the reason there is none (the descriptor is closed on failure).
    static func connect(_ path: String) -> Result<Int32, ConnectError> {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return .failure(.failed(errno: errno)) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(descriptor)
            return .failure(.pathTooLong)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let saved = errno
            close(descriptor)
            return .failure(.failed(errno: saved))
        }
        return .success(descriptor)
    }
}
