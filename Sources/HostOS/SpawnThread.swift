import Foundation

/// The one thread every child is forked from. Linux sends PR_SET_PDEATHSIG when the thread that forked
/// the child ends, not the process; a Dispatch worker thread may end at any time, so forking from one
/// would kill children early. This thread is never stopped.
final class SpawnThread: @unchecked Sendable {
    static let shared = SpawnThread()

    private let condition = NSCondition()
    private var pending: [@Sendable () -> Void] = []

    private init() {
        let thread = Thread { [self] in loop() }
        thread.name = "cvm-spawn"
        thread.start()
    }

    /// Runs `work` on the spawn thread and returns its result.
    func perform<T: Sendable>(_ work: @escaping @Sendable () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        condition.withLock {
            pending.append {
                box.value = work()
                done.signal()
            }
            condition.signal()
        }
        done.wait()
        return box.value!
    }

    private func loop() {
        while true {
            let job: @Sendable () -> Void = condition.withLock {
                while pending.isEmpty { condition.wait() }
                return pending.removeFirst()
            }
            job()
        }
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
