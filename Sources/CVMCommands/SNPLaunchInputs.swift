import ArgumentParser
import Foundation
import Launch
import SEVABI

/// `--id-block`, `--id-auth` and `--host-data` of `cvm run` and `cvm vm create`: what `cvm id-block`
/// writes reaches a launch without hand-editing.
struct SNPLaunchInputOptions: ParsableArguments {
    @Option(help: "SEV-SNP ID block: the JSON `cvm id-block --json` writes (ID auth and author key come with it), a file of the 96 bytes or their base64, or the base64 itself.")
    var idBlock: String?
    @Option(help: "SEV-SNP ID authentication info (with --id-block): a file of the 4096 bytes or their base64, or the base64 itself.")
    var idAuth: String?
    @Option(help: "SEV-SNP HOST_DATA: 32 bytes as 64 hex digits or base64, bound into every attestation report.")
    var hostData: String?
    @Option(help: "TDX: the host's Quote Generation Service socket (QGS, a Unix socket path), through which the TD turns its report into a quote.")
    var quoteSocket: String?

    init() {}

    func tdxLaunchOptions() throws -> TDXLaunchOptions {
        guard let quoteSocket else { return TDXLaunchOptions() }
        guard quoteSocket.hasPrefix("/"), !quoteSocket.contains("\0") else {
            throw CLIFailure.badInput("--quote-socket: expected an absolute Unix socket path, got '\(quoteSocket)'")
        }
        return TDXLaunchOptions(quoteGenerationSocket: quoteSocket)
    }

    struct IDBlockJSON: Decodable {
        let idBlock: String
        let idAuth: String
        let authorKeyDigest: String?
    }

    func launchOptions() throws -> SNPLaunchOptions {
        var options = SNPLaunchOptions()
        if let idBlock {
            if let data = FileManager.default.contents(atPath: idBlock), let json = try? JSONDecoder().decode(IDBlockJSON.self, from: data) {
                options.idBlock = try Self.base64(json.idBlock, bytes: 96, name: "--id-block \(idBlock) (idBlock)")
                options.idAuth = try Self.base64(json.idAuth, bytes: 4096, name: "--id-block \(idBlock) (idAuth)")
                options.authorKeyEnabled = json.authorKeyDigest != nil
            } else {
                options.idBlock = try Self.value(idBlock, bytes: 96, name: "--id-block")
            }
        }
        if let idAuth {
            guard idBlock != nil else { throw CLIFailure.badInput("--id-auth needs --id-block") }
            options.idAuth = try Self.value(idAuth, bytes: 4096, name: "--id-auth")
        }
        if options.idBlock != nil, options.idAuth == nil {
            throw CLIFailure.badInput("--id-block needs its ID authentication info: give --id-auth, or the JSON cvm id-block --json writes")
        }
        if let hostData {
            if hostData.count == 64, let bytes = try? [UInt8](hex: hostData, count: 32) {
                options.hostData = Data(bytes).base64EncodedString()
            } else {
                options.hostData = try Self.base64(hostData, bytes: 32, name: "--host-data")
            }
        }
        return options
    }

    /// A file holding the raw bytes or their base64, or the base64 itself; returned as base64.
    static func value(_ text: String, bytes count: Int, name: String) throws -> String {
        if let data = FileManager.default.contents(atPath: text) {
            if data.count == count { return data.base64EncodedString() }
            let inner = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return try base64(inner, bytes: count, name: "\(name) \(text)")
        }
        return try base64(text, bytes: count, name: name)
    }

    static func base64(_ text: String, bytes count: Int, name: String) throws -> String {
        guard let data = Data(base64Encoded: text), data.count == count else {
            throw CLIFailure.badInput("\(name): not \(count) bytes of base64 (nor a readable file of them)")
        }
        return data.base64EncodedString()
    }
}
