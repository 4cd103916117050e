import ArgumentParser
import Attestation
import CachedFetch
import Certificates
import KDS
import Foundation
import SEVABI

struct AttestFetch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Fetch VCEKs, certificate chains and CRLs from AMD KDS, and DCAP collateral from Intel PCS, with a cache and retries.",
        discussion: """
        Responses are cached (default $XDG_CACHE_HOME/cvm/kds and cvm/pcs, or under ~/.cache/cvm); a \
        cached object is used without asking the server again (for PCS until its nextUpdate). --offline \
        reads only the cache. Rate limits (HTTP 429) and server errors are retried with exponential \
        backoff, honouring Retry-After. \
        Examples:
          cvm attest fetch vcek report.bin --out certs/
          cvm attest fetch chain --product Genoa --out certs/
          cvm attest fetch crl --product Milan --out certs/
          cvm attest fetch vcek report.bin --out certs/ \\
              --base-url http://mirror.internal:8080
          cvm attest fetch tdx quote.dat --out collateral/
          cvm attest fetch tdx quote.dat --out collateral/ \\
              --base-url https://pccs.internal:8081
        """,
        subcommands: [VCEK.self, Chain.self, CRL.self, TDX.self]
    )

    /// Cache, retries and the output directory, the same for KDS and PCS.
    struct Transport: ParsableArguments {
        @Option(help: "Cache directory (default $XDG_CACHE_HOME/cvm/kds or cvm/pcs, else under ~/.cache/cvm).") var cache: String?
        @Flag(help: "Do not use the cache.") var noCache = false
        @Flag(help: "Never contact the server; answer from the cache only.") var offline = false
        @Option(help: "Attempts per request (1 = no retries).") var attempts: Int = 4
        @Option(help: "Per-request timeout in seconds.") var timeout: Double = 20
        @Option(help: "Longest wait between attempts in seconds (also caps Retry-After).") var maxBackoff: Double = 30
        @Option(help: "Directory to write the result into (created if missing).") var out: String = "."

        func fetcher(baseURL: String, defaultCache: URL?) -> CachedFetcher {
            CachedFetcher(baseURL: baseURL, cacheDirectory: noCache ? nil : (cache.map { URL(fileURLWithPath: $0) } ?? defaultCache),
                          offline: offline, maxAttempts: attempts, initialBackoff: 1, maxBackoff: maxBackoff, timeout: timeout)
        }

        func write(_ bytes: [UInt8], name: String) throws -> String {
            do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
                throw CLIFailure.badInput("cannot create \(out): \(error.localizedDescription)")
            }
            let path = URL(fileURLWithPath: out).appendingPathComponent(name).path
            try AttestCLI.writeFile(bytes, to: path)
            return path
        }
    }

    struct Options: ParsableArguments {
        @Option(help: "KDS base URL.") var baseURL: String = KDS.defaultBaseURL
        @OptionGroup var transport: Transport

        var client: KDSClient { KDSClient(fetcher: transport.fetcher(baseURL: baseURL, defaultCache: KDSClient.defaultCacheDirectory)) }

        func write(_ bytes: [UInt8], name: String) throws -> String { try transport.write(bytes, name: name) }
    }

    static func mapError(_ error: Error) -> CLIFailure {
        if let failure = error as? CLIFailure { return failure }
        if let fetch = error as? FetchError {
            return fetch.isBadInput ? .badInput(fetch.description) : .unsupportedHere(fetch.description)
        }
        return .badInput("\(error)")
    }

    static func source(_ response: CachedFetcher.Response, server: String = "KDS") -> String {
        response.fromCache ? "from cache" : "from \(server) after \(response.attempts) attempt(s)"
    }

    struct VCEK: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vcek",
            abstract: "Fetch the VCEK that signed a report (its CHIP_ID and REPORTED_TCB), as vcek.der."
        )

        @Argument(help: "The report whose VCEK to fetch.") var report: String
        @Option(help: "Product (default: from the report; v2 reports need it).") var product: String?
        @Flag(help: "Print the URL path only.") var printURL = false
        @OptionGroup var options: Options

        func run() async throws {
            let parsed = try AttestCLI.loadReport(report)
            guard let chosen = try AttestCLI.product(product) ?? parsed.product else {
                throw CLIFailure.badInput(VerificationError.unknownProduct.description)
            }
            guard parsed.signerInfo.signingKey != .vlek else {
                throw CLIFailure.badInput("the report is VLEK-signed: VLEKs come from the cloud provider, not from KDS by chip id")
            }
            if parsed.signerInfo.maskChipKey || parsed.chipID.allSatisfy({ $0 == 0 }) {
                throw CLIFailure.badInput("the report's CHIP_ID is masked: its VCEK cannot be looked up")
            }
            if printURL { print(options.baseURL + KDS.vcekPath(for: parsed, product: chosen)); return }
            do {
                let (certificate, response) = try await options.client.vcek(for: parsed, product: chosen)
                let path = try options.write(certificate.der, name: "vcek.der")
                print("wrote \(path) (\(AttestFetch.source(response)))")
            } catch { throw AttestFetch.mapError(error) }
        }

    }

    struct Chain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "chain",
            abstract: "Fetch a product's ASK (or ASVK) and ARK as cert_chain.pem; the ARK must be the pinned one."
        )

        @Option(help: "Milan, Genoa or Turin.") var product: String
        @Flag(help: "Fetch the VLEK chain (ASVK) instead of the VCEK chain (ASK).") var vlek = false
        @OptionGroup var options: Options

        func run() async throws {
            guard let chosen = try AttestCLI.product(product) else { throw CLIFailure.badInput("--product is required") }
            do {
                let (certificates, response) = try await options.client.chain(product: chosen, endorsement: vlek ? .vlek : .vcek)
                let roots = try AMDRoots.roots(for: chosen)
                guard let ark = certificates.last, ark.fingerprintSHA256 == roots.ark.fingerprintSHA256 else {
                    throw CLIFailure.no("the fetched chain's ARK is not the pinned ARK-\(chosen)")
                }
                let path = try options.write(Array(certificates.map(\.pem).joined(separator: "\n").utf8) + [0x0A], name: "cert_chain.pem")
                print("wrote \(path) (\(AttestFetch.source(response)))")
            } catch { throw AttestFetch.mapError(error) }
        }
    }

    struct CRL: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "crl",
            abstract: "Fetch a product's certificate revocation list as crl.der and check it is the ARK's."
        )

        @Option(help: "Milan, Genoa or Turin.") var product: String
        @Flag(help: "Fetch the VLEK CRL.") var vlek = false
        @OptionGroup var options: Options

        func run() async throws {
            guard let chosen = try AttestCLI.product(product) else { throw CLIFailure.badInput("--product is required") }
            do {
                let (crl, response) = try await options.client.crl(product: chosen, endorsement: vlek ? .vlek : .vcek)
                let path = try options.write(crl.der, name: "crl.der")
                let signed = crl.isSigned(by: try AMDRoots.roots(for: chosen).ark)
                print("wrote \(path) (\(AttestFetch.source(response))): \(crl.revokedSerials.count) revoked, issued \(formatRFC3339(crl.thisUpdate))")
                if !signed { throw CLIFailure.no("the CRL is not signed by the pinned ARK-\(chosen)") }
            } catch { throw AttestFetch.mapError(error) }
        }
    }
}
