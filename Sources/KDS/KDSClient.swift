import Foundation
import CachedFetch
import Certificates
import SNPReport

/// Fetches from KDS through `CachedFetcher`: an on-disk cache, retries with exponential backoff
/// (honouring Retry-After), a per-request timeout and an offline mode. Certificates and chains do not
/// change, so a cache hit is final.
public struct KDSClient: Sendable {
    /// The base URL, cache, retry and offline settings.
    public var fetcher: CachedFetcher

    public var offline: Bool {
        get { fetcher.offline }
        set { fetcher.offline = newValue }
    }

    public init(fetcher: CachedFetcher) { self.fetcher = fetcher }

    public init(baseURL: String = KDS.defaultBaseURL, cacheDirectory: URL? = KDSClient.defaultCacheDirectory,
                offline: Bool = false, maxAttempts: Int = 4, initialBackoff: TimeInterval = 1, maxBackoff: TimeInterval = 30,
                timeout: TimeInterval = 20) {
        fetcher = CachedFetcher(baseURL: baseURL, cacheDirectory: cacheDirectory, offline: offline, maxAttempts: maxAttempts,
                                initialBackoff: initialBackoff, maxBackoff: maxBackoff, timeout: timeout)
    }

    /// $XDG_CACHE_HOME/cvm/kds or ~/.cache/cvm/kds.
    public static var defaultCacheDirectory: URL? { CachedFetcher.defaultCacheDirectory("kds") }

    public typealias Response = CachedFetcher.Response

    /// The cache file of a KDS path: the path with its query, made safe for a file name.
    public func cacheFile(for path: String) -> URL? { fetcher.cacheFile(for: path) }

    /// Fetches `path`; `validate` decides whether a body is usable (a corrupt body is retried and never cached).
    public func fetch(_ path: String, validate: @Sendable ([UInt8]) throws -> Void) async throws -> Response {
        try await fetcher.fetch(path) { bytes, _ in try validate(bytes) }
    }

    // MARK: typed fetches

    public func vcek(for report: AttestationReport, product: SNPProduct) async throws -> (Certificate, Response) {
        let response = try await fetch(KDS.vcekPath(for: report, product: product)) { _ = try Certificate(bytes: $0) }
        return (try Certificate(bytes: response.bytes), response)
    }

    public func chain(product: SNPProduct, endorsement: KDS.Endorsement = .vcek) async throws -> ([Certificate], Response) {
        let response = try await fetch(KDS.chainPath(product: product, endorsement: endorsement)) { bytes in
            guard try Certificate.parseBundle(bytes).count == 2 else {
                throw CertificateError.notACertificate("a cert_chain holds two certificates")
            }
        }
        return (try Certificate.parseBundle(response.bytes), response)
    }

    public func crl(product: SNPProduct, endorsement: KDS.Endorsement = .vcek) async throws -> (RevocationList, Response) {
        let response = try await fetch(KDS.crlPath(product: product, endorsement: endorsement)) { _ = try RevocationList(bytes: $0) }
        return (try RevocationList(bytes: response.bytes), response)
    }
}
