import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// HTTP GET with an on-disk cache, retries with exponential backoff (honouring Retry-After on 429 and
/// 503), a per-request timeout and an offline mode that only reads the cache: the engine under the AMD
/// KDS client and the Intel PCS client. Both services are rate-limited and sometimes flaky, and what they
/// serve changes rarely, so a cached answer is used until the caller says it has expired.
public struct CachedFetcher: Sendable {
    /// Prepended to every relative path; an absolute http(s) URL is fetched as it is.
    public var baseURL: String
    public var cacheDirectory: URL?
    public var offline: Bool
    public var maxAttempts: Int
    /// First backoff delay; doubles on every retry.
    public var initialBackoff: TimeInterval
    /// Upper bound of any single wait, including a server's Retry-After.
    public var maxBackoff: TimeInterval
    public var timeout: TimeInterval

    public init(baseURL: String, cacheDirectory: URL?, offline: Bool = false, maxAttempts: Int = 4,
                initialBackoff: TimeInterval = 1, maxBackoff: TimeInterval = 30, timeout: TimeInterval = 20) {
        self.baseURL = baseURL
        self.cacheDirectory = cacheDirectory
        self.offline = offline
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.timeout = timeout
    }

    /// $XDG_CACHE_HOME/cvm/`service` or ~/.cache/cvm/`service`; nil without either variable.
    public static func defaultCacheDirectory(_ service: String) -> URL? {
        let env = ProcessInfo.processInfo.environment
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg).appendingPathComponent("cvm/\(service)")
        }
        guard let home = env["HOME"], !home.isEmpty else { return nil }
        return URL(fileURLWithPath: home).appendingPathComponent(".cache/cvm/\(service)")
    }

    /// A fetched object, the response headers the caller asked to keep, and where it came from.
    public struct Response: Sendable {
        public let bytes: [UInt8]
        /// Header names in lower case.
        public let headers: [String: String]
        public let fromCache: Bool
        public let attempts: Int
        /// A cached answer that has expired, used because the fetcher is offline or the server could not
        /// be reached (then `unreachable` says why).
        public let stale: Bool
        /// Why the server was not asked successfully when an expired cached answer stands in for it.
        public var unreachable: String? = nil
    }

    /// The cache file of a path (with its query) or URL, made safe for a file name.
    public func cacheFile(for path: String) -> URL? {
        guard let cacheDirectory else { return nil }
        let safe = String(path.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" })
        return cacheDirectory.appendingPathComponent(safe)
    }

    /// Fetches `path`. `validate` decides whether a body and its kept headers are usable: an unusable
    /// answer is retried and never cached. `isCurrent` says whether a cached body is still in date; an
    /// expired one is fetched again, or returned marked stale when offline. `keepHeaders` are cached
    /// beside the body (in a `.headers` file) and handed back with it. When the server cannot be reached
    /// (transport errors, 429 or 5xx on every attempt) an expired cached answer is returned, marked stale
    /// with the reason, rather than nothing: the caller says so, and a verifier judges its dates anyway.
    public func fetch(_ path: String, keepHeaders: [String] = [], isCurrent: @Sendable ([UInt8]) -> Bool = { _ in true },
                      validate: @Sendable ([UInt8], [String: String]) throws -> Void) async throws -> Response {
        var expired: (bytes: [UInt8], headers: [String: String])?
        if let cached = cached(path, keepHeaders: keepHeaders), (try? validate(cached.bytes, cached.headers)) != nil {
            let current = isCurrent(cached.bytes)
            if current || offline {
                return Response(bytes: cached.bytes, headers: cached.headers, fromCache: true, attempts: 0, stale: !current)
            }
            expired = cached
        }
        if offline { throw FetchError.offlineMiss(path: path) }
        let absolute = path.hasPrefix("http://") || path.hasPrefix("https://")
        let trimmedBase = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        guard let url = URL(string: absolute ? path : trimmedBase + path), url.scheme == "http" || url.scheme == "https" else {
            throw FetchError.badBaseURL(absolute ? path : baseURL)
        }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        var lastError: FetchError = .transport(url: url.absoluteString, reason: "no attempt made")
        let attempts = max(1, maxAttempts)
        for attempt in 1...attempts {
            var wait = min(maxBackoff, initialBackoff * pow(2, Double(attempt - 1)))
            do {
                var request = URLRequest(url: url)
                request.timeoutInterval = timeout
                let (data, response) = try await session.data(for: request)
                let http = response as? HTTPURLResponse
                switch http?.statusCode ?? 0 {
                case 200:
                    let bytes = Array(data)
                    var headers: [String: String] = [:]
                    for name in keepHeaders {
                        if let value = http?.value(forHTTPHeaderField: name) { headers[name.lowercased()] = value }
                    }
                    do {
                        try validate(bytes, headers)
                    } catch {
                        lastError = .corruptBody(url: url.absoluteString, reason: "\(error)")
                        break
                    }
                    store(bytes, headers: keepHeaders.isEmpty ? nil : headers, for: path)
                    return Response(bytes: bytes, headers: headers, fromCache: false, attempts: attempt, stale: false)
                case 404:
                    throw FetchError.notFound(url: url.absoluteString)
                case let status where status == 429 || (500...599).contains(status):
                    lastError = .httpStatus(url: url.absoluteString, status: status)
                    if let header = http?.value(forHTTPHeaderField: "Retry-After"), let seconds = Self.retryAfterSeconds(header) {
                        wait = min(maxBackoff, seconds)
                    }
                case let status:
                    throw FetchError.httpStatus(url: url.absoluteString, status: status)
                }
            } catch let error as FetchError {
                throw error
            } catch {
                lastError = .transport(url: url.absoluteString, reason: error.localizedDescription)
            }
            if attempt < attempts {
                try await Task.sleep(nanoseconds: UInt64(max(0, wait) * 1e9))
            }
        }
        if let expired {
            return Response(bytes: expired.bytes, headers: expired.headers, fromCache: true, attempts: attempts, stale: true,
                            unreachable: lastError.description)
        }
        throw FetchError.gaveUp(url: url.absoluteString, attempts: attempts, last: lastError)
    }

    /// Retry-After is either delta-seconds or an HTTP date (RFC 9110 section 10.2.3).
    public static func retryAfterSeconds(_ header: String, now: Date = Date()) -> TimeInterval? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed) { return max(0, seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }

    /// The cached body and, when headers are wanted, the headers stored beside it (none if that file is
    /// missing, so validation decides).
    private func cached(_ path: String, keepHeaders: [String]) -> (bytes: [UInt8], headers: [String: String])? {
        guard let file = cacheFile(for: path), let data = try? Data(contentsOf: file) else { return nil }
        var headers: [String: String] = [:]
        if !keepHeaders.isEmpty, let stored = try? Data(contentsOf: Self.headersFile(file)) {
            headers = (try? JSONDecoder().decode([String: String].self, from: stored)) ?? [:]
        }
        return (Array(data), headers)
    }

    private func store(_ bytes: [UInt8], headers: [String: String]?, for path: String) {
        guard let file = cacheFile(for: path) else { return }
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        if let headers, let encoded = try? JSONEncoder().encode(headers) {
            try? encoded.write(to: Self.headersFile(file), options: .atomic)
        }
        try? Data(bytes).write(to: file, options: .atomic)
    }

    private static func headersFile(_ body: URL) -> URL { body.appendingPathExtension("headers") }
}
