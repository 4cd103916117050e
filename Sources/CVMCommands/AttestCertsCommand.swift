import ArgumentParser
import Certificates
import Foundation
import SEVABI

struct AttestCerts: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Read and write the host certificate table (extended report / configfs-tsm auxblob).",
        subcommands: [Extract.self, Build.self]
    )

    struct Extract: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Split a certificate table into ark.pem, ask.pem, vcek.pem, vlek.pem (and GUID.bin for others).",
            discussion: """
            Example:
              cvm attest certs extract auxblob.bin --out certs/
            """
        )

        @Argument(help: "The certificate table blob.") var table: String
        @Option(help: "Directory to write the certificates into (created if missing).") var out: String
        @Flag(help: "Print JSON.") var json = false

        struct Listing: Encodable {
            let guid: String
            let name: String?
            let length: Int
            let file: String
            let subject: String?
        }

        func run() throws {
            let parsed: CertificateTable
            do { parsed = try CertificateTable(bytes: AttestCLI.readFile(table, what: "certificate table")) } catch let failure as CLIFailure {
                throw failure
            } catch { throw CLIFailure.badInput("\(table): \(error)") }
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            } catch { throw CLIFailure.badInput("cannot create \(out): \(error.localizedDescription)") }
            var listing: [Listing] = []
            for entry in parsed.entries {
                let name = CertificateTable.name(of: entry.guid)
                let cert = try? Certificate(bytes: entry.data)
                let file: String
                let bytes: [UInt8]
                if let name, let cert {
                    file = "\(name).pem"
                    bytes = Array(cert.pem.utf8) + [0x0A]
                } else {
                    file = "\(entry.guid).bin"
                    bytes = entry.data
                }
                try AttestCLI.writeFile(bytes, to: URL(fileURLWithPath: out).appendingPathComponent(file).path)
                listing.append(Listing(guid: entry.guid.description, name: name, length: entry.data.count, file: file, subject: cert?.subjectCommonName))
            }
            if json { try printJSON(listing) } else {
                for item in listing {
                    print("\(item.guid)  \((item.name ?? "unknown").padding(toLength: 5, withPad: " ", startingAt: 0)) \(item.length) bytes → \(item.file)\(item.subject.map { "  (\($0))" } ?? "")")
                }
            }
        }
    }

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a certificate table from certificate files, for QEMU/snphost or tests.",
            discussion: """
            Each --cert is NAME=FILE where NAME is ark, ask, vcek, vlek or a GUID; certificates are stored as DER. \
            Example:
              cvm attest certs build --cert ark=ark.pem --cert ask=ask.pem \\
                  --cert vcek=vcek.der --out certs.bin
            """
        )

        @Option(help: "NAME=FILE (repeatable); NAME is ark, ask, vcek, vlek or a GUID.") var cert: [String] = []
        @Option(help: "Output file.") var out: String

        func run() throws {
            guard !cert.isEmpty else { throw CLIFailure.badInput("give at least one --cert NAME=FILE") }
            var entries: [CertificateTable.Entry] = []
            for item in cert {
                let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2 else { throw CLIFailure.badInput("--cert expects NAME=FILE, found '\(item)'") }
                let guid: GUID
                if let known = CertificateTable.guid(named: pair[0]) { guid = known } else {
                    do { guid = try GUID(pair[0]) } catch {
                        throw CLIFailure.badInput("--cert: '\(pair[0])' is neither ark, ask, vcek, vlek nor a GUID")
                    }
                }
                let bytes = try AttestCLI.readFile(pair[1], what: "certificate")
                let der = (try? Certificate(bytes: bytes))?.der ?? bytes
                entries.append(CertificateTable.Entry(guid: guid, data: der))
            }
            try AttestCLI.writeFile(CertificateTable(entries: entries).bytes, to: out)
            print("wrote \(out): \(entries.count) entries")
        }
    }
}
