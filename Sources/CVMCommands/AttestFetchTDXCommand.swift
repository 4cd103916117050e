import ArgumentParser
import CachedFetch
import DCAPQuote
import Foundation
import PCS

extension AttestFetch {
    /// `cvm attest fetch tdx QUOTE`: the DCAP collateral of a quote (TDX v4/v5 or SGX v3) from Intel PCS
    /// API v4 or a PCCS, written as the collateral.json `cvm attest verify QUOTE --collateral` reads.
    struct TDX: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tdx",
            abstract: "Fetch a DCAP quote's collateral from Intel PCS (or a PCCS) as collateral.json.",
            discussion: """
            The FMSPC and the PCK CA (platform or processor) come from the PCK certificate in the quote. \
            Four answers are fetched: the PCK CRL, the TCB info for the FMSPC, the QE identity and the \
            root CA CRL, each checked (JSON, signature hex, DER, issuer chain) before it is cached. A \
            cached answer past its nextUpdate is fetched again; with --offline, or when the server cannot be \
            reached, it is used with a warning (and `cvm attest verify` reports it expired). \
            The result is dcap-qvl's QuoteCollateralV3 JSON, for `cvm attest verify QUOTE --collateral`.
            """
        )

        @Argument(help: "The DCAP quote (TDX v4 or v5, SGX v3).") var quote: String
        @Option(help: "PCS base URL, or a PCCS's (then the root CA CRL comes from its /sgx/certification/v4/rootcacrl).")
        var baseURL: String = PCS.defaultBaseURL
        @Option(name: .customLong("root-ca-crl"), help: "Where to fetch the root CA CRL: a URL or a path on the base URL (default Intel's, or the PCCS path).")
        var rootCACRL: String?
        @Option(help: "Judge cached answers current at this RFC 3339 time instead of now.") var at: String?
        @OptionGroup var transport: Transport

        func run() async throws {
            let bytes = try AttestCLI.readFile(quote, what: "quote")
            let platform: PCKPlatform
            do { platform = try PCKPlatform(quote: try DCAPQuote(bytes: bytes)) } catch {
                throw CLIFailure.badInput("\(quote): \(error)")
            }
            let client = PCSClient(fetcher: transport.fetcher(baseURL: baseURL, defaultCache: PCSClient.defaultCacheDirectory),
                                   rootCACRL: rootCACRL, now: try AttestCLI.time(at))
            do {
                let fetched = try await client.collateral(for: platform)
                for part in fetched.parts where part.response.stale {
                    let why = part.response.unreachable.map { "the server could not be reached (\($0))" } ?? "--offline"
                    FileHandle.standardError.write(Data("warning: the cached \(part.name) is past its nextUpdate; used because \(why)\n".utf8))
                }
                let path = try transport.write(fetched.json, name: "collateral.json")
                let sources = fetched.parts.map { "\($0.name) \(AttestFetch.source($0.response, server: "PCS"))" }
                print("wrote \(path): \(sources.joined(separator: "; "))")
            } catch let failure as PCS.Failure {
                throw CLIFailure.badInput(failure.description)
            } catch { throw AttestFetch.mapError(error) }
        }
    }
}
