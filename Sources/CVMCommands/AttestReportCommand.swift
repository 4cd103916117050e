import ArgumentParser
import Certificates
import GuestAttestation
import Foundation
import SEVABI

struct AttestReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Inside an SNP or TDX guest: get a signed attestation report or quote.",
        discussion: """
        Uses configfs-tsm (Linux ≥ 6.7) when present, otherwise /dev/sev-guest, otherwise /dev/tdx_guest. \
        The report data (up to 64 bytes, zero-padded) is usually a verifier's nonce or a hash of a public \
        key. With --certs-out, the host's certificate table (configfs-tsm auxblob, or SNP_GET_EXT_REPORT \
        on /dev/sev-guest) is split into ark/ask/vcek/vlek PEM files.

        In a TDX guest the output is a DCAP quote (its PCK chain is inside; --vmpl must be 0). Through \
        configfs-tsm (provider tdx_guest) the kernel asks the host for it; through /dev/tdx_guest, cvm \
        takes the TDREPORT and asks the host's Quote Generation Service itself, over vsock (CID 2, port \
        4050 unless --qgs-cid/--qgs-port say otherwise), as Intel's libtdx_attest does. The TDX paths \
        have been tested against a simulated kernel and QGS only, not on TDX hardware.

        Examples:
          cvm attest report --data 00112233 --out report.bin
          cvm attest report --data-file nonce.bin --vmpl 0 --out report.bin \\
              --certs-out certs/
          cvm attest report --data-file nonce.bin --out quote.bin --qgs-port 4051
        """
    )

    @Option(help: "REPORT_DATA as hex (up to 64 bytes).") var data: String?
    @Option(help: "REPORT_DATA from a file (up to 64 bytes).") var dataFile: String?
    @Option(help: "VMPL to request the report at (0-3).") var vmpl: UInt32 = 0
    @Option(help: "Where to write the report.") var out: String = "report.bin"
    @Option(help: "Directory for the host-provided certificates.") var certsOut: String?
    @Option(help: "configfs-tsm report root (for testing or unusual mounts).") var tsmRoot: String?
    @Option(help: "TDX, /dev/tdx_guest: vsock CID of the Quote Generation Service.")
    var qgsCid: UInt32 = VsockQGSTransport.hostCID
    @Option(help: "TDX, /dev/tdx_guest: vsock port of the Quote Generation Service.")
    var qgsPort: UInt32 = VsockQGSTransport.defaultPort

    func run() throws {
        if data != nil, dataFile != nil { throw CLIFailure.badInput("give --data or --data-file, not both") }
        var reportData: [UInt8] = []
        if let data { reportData = try AttestCLI.hex(data, option: "--data") }
        if let dataFile { reportData = try AttestCLI.readFile(dataFile, what: "report data") }
        let provider: any GuestReportProvider
        do {
            let quoteService = VsockQGSTransport(cid: qgsCid, port: qgsPort)
            provider = try tsmRoot.map { ConfigfsTSM(root: URL(fileURLWithPath: $0)) }
                ?? defaultGuestReportProvider(certificates: certsOut != nil, quoteService: quoteService)
        } catch { throw CLIFailure.unsupportedHere("\(error)") }
        let result: GuestReportResult
        do { result = try provider.getReport(reportData: reportData, vmpl: vmpl) } catch let error as GuestReportError {
            switch error {
            case .reportDataTooLong, .vmplOutOfRange, .noVMPL: throw CLIFailure.badInput(error.description)
            default: throw CLIFailure.unsupportedHere(error.description)
            }
        }
        try AttestCLI.writeFile(result.report, to: out)
        print("wrote \(out) (\(result.kind.rawValue), \(result.report.count) bytes via \(provider.name))")
        if let certsOut {
            if result.kind == .tdxQuote {
                printError("note: a TDX quote carries its PCK certificate chain inside; nothing written to \(certsOut)")
                return
            }
            guard let table = result.certificateTable else {
                printError("warning: the host provided no certificates; fetch the VCEK with `cvm attest fetch vcek \(out)`")
                return
            }
            do {
                let directory = try CertificateTable(bytes: table).certificates()
                try FileManager.default.createDirectory(atPath: certsOut, withIntermediateDirectories: true)
                for (name, cert) in [("ark", directory.ark), ("ask", directory.ask), ("vcek", directory.vcek), ("vlek", directory.vlek)] {
                    guard let cert else { continue }
                    try AttestCLI.writeFile(Array(cert.pem.utf8) + [0x0A], to: URL(fileURLWithPath: certsOut).appendingPathComponent("\(name).pem").path)
                }
                print("wrote host certificates to \(certsOut)")
            } catch let failure as CLIFailure { throw failure } catch {
                throw CLIFailure.badInput("host certificate table: \(error)")
            }
        }
    }
}
