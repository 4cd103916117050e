import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A byte stream to the Quote Generation Service. `receive` returns at most `count` bytes and an empty
/// array when the peer has closed the stream.
public protocol QGSConnection: AnyObject {
    func send(_ bytes: [UInt8]) throws
    func receive(upTo count: Int) throws -> [UInt8]
}

/// Where the Quote Generation Service listens: vsock to the host in a TD; tests serve it themselves.
public protocol QGSTransport: Sendable {
    /// For messages, e.g. "vsock:2:4050".
    var address: String { get }
    func connect() throws -> any QGSConnection
}

/// A connected stream socket (the vsock connection, or one end of a socketpair in tests); closed on deinit.
public final class SocketConnection: QGSConnection {
    let descriptor: Int32
    let peer: String

    /// Takes ownership of `descriptor`.
    public init(adopting descriptor: Int32, peer: String) {
        self.descriptor = descriptor
        self.peer = peer
    }

    deinit {
        #if canImport(Glibc)
        close(descriptor)
        #endif
    }

    public func send(_ bytes: [UInt8]) throws {
        #if canImport(Glibc)
        var sent = 0
        while sent < bytes.count {
            // MSG_NOSIGNAL: a peer that closed early is an EPIPE here, not a SIGPIPE that ends cvm.
            let n = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw failure("send", errno) }
            sent += n
        }
        #else
        throw GuestReportError.quoteGeneration("\(peer): sockets need Linux")
        #endif
    }

    public func receive(upTo count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        #if canImport(Glibc)
        var buffer = [UInt8](repeating: 0, count: count)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, count, 0) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw failure("receive", errno) }
            return Array(buffer[0..<n])
        }
        #else
        throw GuestReportError.quoteGeneration("\(peer): sockets need Linux")
        #endif
    }

    private func failure(_ what: String, _ code: Int32) -> GuestReportError {
        #if canImport(Glibc)
        if code == EAGAIN || code == EWOULDBLOCK { return .quoteGeneration("\(peer): \(what) timed out") }
        #endif
        return .quoteGeneration("\(peer): \(what): \(errorText(code))")
    }
}

/// The host's Quote Generation Service over AF_VSOCK, where libtdx_attest finds it: CID 2 (the host,
/// VMADDR_CID_HOST) and the port of /etc/tdx-attest.conf, 4050 in Intel's and the distributions' setups.
/// Not exercised on TDX hardware: the tests check the address layout against linux/vm_sockets.h and
/// the exchange over a socketpair.
public struct VsockQGSTransport: QGSTransport {
    public static let hostCID: UInt32 = 2
    public static let defaultPort: UInt32 = 4050
    /// AF_VSOCK (linux/socket.h), which Glibc's Swift overlay does not name.
    static let addressFamily: UInt16 = 40
    public let cid: UInt32
    public let port: UInt32
    /// Send and receive timeout: the first quote of a boot may wait for the host to fetch PCK certificates.
    public let timeoutSeconds: Int
    public var address: String { "vsock:\(cid):\(port)" }

    public init(cid: UInt32 = VsockQGSTransport.hostCID, port: UInt32 = VsockQGSTransport.defaultPort, timeoutSeconds: Int = 60) {
        self.cid = cid
        self.port = port
        self.timeoutSeconds = timeoutSeconds
    }

    /// struct sockaddr_vm (linux/vm_sockets.h, 16 bytes): svm_family u16, svm_reserved1 u16, svm_port u32,
    /// svm_cid u32, svm_flags u8, svm_zero[3].
    static func socketAddress(cid: UInt32, port: UInt32) -> [UInt8] {
        addressFamily.littleEndianBytes + [0, 0] + port.littleEndianBytes + cid.littleEndianBytes + [0, 0, 0, 0]
    }

    public func connect() throws -> any QGSConnection {
        #if canImport(Glibc)
        let fd = socket(Int32(Self.addressFamily), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw GuestReportError.quoteGeneration("\(address): socket(AF_VSOCK): \(errorText(errno)) (no vsock in this guest?)") }
        let connection = SocketConnection(adopting: fd, peer: address)
        var limit = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            _ = setsockopt(fd, SOL_SOCKET, option, &limit, socklen_t(MemoryLayout<timeval>.size))
        }
        let sockaddr = Self.socketAddress(cid: cid, port: port)
        let rc = sockaddr.withUnsafeBytes { raw in
            Glibc.connect(fd, raw.baseAddress!.assumingMemoryBound(to: Glibc.sockaddr.self), socklen_t(raw.count))
        }
        guard rc == 0 else { throw GuestReportError.quoteGeneration("connect \(address): \(errorText(errno)) (is the host's QGS running?)") }
        return connection
        #else
        throw GuestReportError.quoteGeneration("\(address): vsock needs Linux")
        #endif
    }
}
