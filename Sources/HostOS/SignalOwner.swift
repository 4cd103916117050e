import CHostAccess
import Foundation

/// The one owner of SIGINT and SIGTERM in cvm. While anything subscribes (the supervisor of a running
/// guest, the bench for its whole session), the two signals are caught instead of ending cvm, and every
/// subscriber hears of each one; with no subscriber, the default action (end cvm) is back. Nothing
/// else in cvm installs a handler for them, so no component can undo another's.
public final class SignalOwner: @unchecked Sendable {
    public static let shared = SignalOwner()

    /// What a subscriber holds; the subscription ends with `cancel()`.
    public final class Subscription: @unchecked Sendable {
        fileprivate let id: Int
        private weak var owner: SignalOwner?
        private var cancelled = false
        private let lock = NSLock()

        fileprivate init(id: Int, owner: SignalOwner) {
            self.id = id
            self.owner = owner
        }

        public func cancel() {
            guard lock.withLock({ () -> Bool in
                defer { cancelled = true }
                return !cancelled
            }) else { return }
            owner?.remove(id)
        }

        deinit { cancel() }
    }

    public static let handled: [Int32] = [SIGINT, SIGTERM]

    private let lock = NSLock()
    private var subscribers: [Int: @Sendable (Int32) -> Void] = [:]
    private var nextID = 0
    private var first: Int32?
    private var writeEnd: Int32 = -1

    private init() {}

    /// The first signal caught since cvm started, nil when none was.
    public var received: Int32? { lock.withLock { first } }

    /// `handler` runs on the owner's thread for every SIGINT/SIGTERM from now on, and at once when one
    /// was already caught (so a signal that came just before a guest started still stops it).
    public func subscribe(_ handler: @escaping @Sendable (Int32) -> Void) -> Subscription {
        let (subscription, earlier): (Subscription, Int32?) = lock.withLock {
            startReaderIfNeeded()
            if subscribers.isEmpty {
                for number in Self.handled { _ = chost_signal_forward(number, writeEnd) }
            }
            nextID += 1
            subscribers[nextID] = handler
            return (Subscription(id: nextID, owner: self), first)
        }
        if let earlier { handler(earlier) }
        return subscription
    }

    fileprivate func remove(_ id: Int) {
        lock.withLock {
            subscribers[id] = nil
            if subscribers.isEmpty {
                for number in Self.handled { _ = chost_signal_default(number) }
            }
        }
    }

    /// One pipe and one thread for the life of cvm: the C handler writes the signal number, this
    /// thread hands it to the subscribers.
    private func startReaderIfNeeded() {
        guard writeEnd < 0 else { return }
        var fds: [Int32] = [0, 0]
        guard chost_pipe_cloexec(&fds) == 0 else { return }
        writeEnd = fds[1]
        let readEnd = fds[0]
        let thread = Thread { [self] in
            var byte: UInt8 = 0
            while true {
                let count = read(readEnd, &byte, 1)
                if count < 0 && errno == EINTR { continue }
                guard count == 1 else { return }
                deliver(Int32(byte))
            }
        }
        thread.name = "cvm-signals"
        thread.start()
    }

    private func deliver(_ number: Int32) {
        let handlers = lock.withLock { () -> [@Sendable (Int32) -> Void] in
            if first == nil { first = number }
            return subscribers.sorted { $0.key < $1.key }.map(\.value)
        }
        for handler in handlers { handler(number) }
    }
}
