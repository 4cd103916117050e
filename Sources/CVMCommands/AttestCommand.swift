import ArgumentParser
import Certificates
import SNPReport
import Foundation
import SEVABI

struct AttestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attest",
        abstract: "Read, verify and fetch SEV-SNP attestation reports and AMD certificates.",
        discussion: """
        A report is only worth something once its signature chains to AMD's root and its contents meet \
        your policy. Typical flow, first inside the guest, then on the verifier (fetch only if needed):
          cvm attest report --data $(nonce) --out report.bin --certs-out certs
          cvm attest fetch vcek report.bin --out certs
          cvm attest verify report.bin --certs certs --expect-measurement HEX \\
              --expect-report-data $(nonce)
        """,
        subcommands: [Show.self, AttestVerify.self, AttestFetch.self, AttestCerts.self, AttestReport.self, AttestSEVMeasure.self, AttestServe.self, AttestRTMR.self]
    )

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every field of an SNP attestation report.",
            discussion: """
            Names the policy and platform bits, splits the TCB versions per generation (Turin adds FMC) \
            and prints digests in hex. Version 2 reports carry no CPUID fields: pass --product to split \
            their TCB correctly (Milan and Genoa share a layout). \
            Examples:
              cvm attest show report.bin
              cvm attest show report.bin --json
            """
        )

        @Argument(help: "The 1184-byte report (binary).") var report: String
        @Option(help: "Read the report as this product: Milan, Genoa or Turin.") var product: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let parsed = try AttestCLI.loadReport(report)
            let summary = ReportSummary(parsed, product: try AttestCLI.product(product))
            if json { try printJSON(summary) } else { print(summary.text) }
        }
    }
}

/// Shared helpers of the attest subcommands: file loading and error mapping to exit status 2.
enum AttestCLI {
    static func readFile(_ path: String, what: String) throws -> [UInt8] {
        do { return Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw CLIFailure.badInput("cannot read \(what) \(path): \(error.localizedDescription)")
        }
    }

    static func loadReport(_ path: String) throws -> AttestationReport {
        let bytes = try readFile(path, what: "report")
        do { return try AttestationReport(bytes: bytes) } catch {
            throw CLIFailure.badInput("\(path): \(error)")
        }
    }

    static func loadCertificate(_ path: String) throws -> Certificate {
        let bytes = try readFile(path, what: "certificate")
        do { return try Certificate(bytes: bytes) } catch {
            throw CLIFailure.badInput("\(path): \(error)")
        }
    }

    static func product(_ name: String?) throws -> SNPProduct? {
        guard let name else { return nil }
        guard let product = SNPProduct(name: name) else {
            throw CLIFailure.badInput("unknown product '\(name)' (use Milan, Genoa or Turin)")
        }
        return product
    }

    static func hex(_ text: String, option: String) throws -> [UInt8] {
        do { return try [UInt8](hex: text) } catch { throw CLIFailure.badInput("\(option): \(error)") }
    }

    /// `--at`: an RFC 3339 time, or now when not given.
    static func time(_ at: String?) throws -> Date {
        guard let at else { return Date() }
        guard let parsed = parseRFC3339(at) else {
            throw CLIFailure.badInput("--at: not an RFC 3339 time: '\(at)' (example 2025-06-01T00:00:00Z)")
        }
        return parsed
    }

    static func writeFile(_ bytes: [UInt8], to path: String) throws {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CLIFailure.badInput("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
