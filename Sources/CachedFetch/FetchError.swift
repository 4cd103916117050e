/// Why a fetch through `CachedFetcher` failed. The URL names the server, so one error type serves KDS
/// and PCS alike; the command line maps the first four to bad input and the rest to "not possible here".
public enum FetchError: Error, Equatable, CustomStringConvertible, Sendable {
    case notFound(url: String)
    case httpStatus(url: String, status: Int)
    case corruptBody(url: String, reason: String)
    case badBaseURL(String)
    case offlineMiss(path: String)
    case transport(url: String, reason: String)
    indirect case gaveUp(url: String, attempts: Int, last: FetchError)

    public var description: String {
        switch self {
        case .notFound(let url): return "the server has no such object (404): \(url)"
        case let .httpStatus(url, status): return "HTTP \(status) for \(url)"
        case let .corruptBody(url, reason): return "the answer for \(url) is not usable: \(reason)"
        case .badBaseURL(let text): return "not a usable base URL: '\(text)'"
        case .offlineMiss(let path): return "offline and not in the cache: \(path)"
        case let .transport(url, reason): return "cannot reach \(url): \(reason)"
        case let .gaveUp(url, attempts, last): return "gave up on \(url) after \(attempts) attempts; last error: \(last.description)"
        }
    }

    /// True for failures of the input or of the server's answer, also when every retry brought an
    /// unusable body (exit 2); false for the network, a server that stayed busy, or an offline cache
    /// miss (exit 3).
    public var isBadInput: Bool {
        switch self {
        case .notFound, .httpStatus, .corruptBody, .badBaseURL: return true
        case .offlineMiss, .transport: return false
        case .gaveUp(_, _, let last):
            if case .corruptBody = last { return true }
            return false
        }
    }
}
