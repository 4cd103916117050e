import ArgumentParser
import Foundation
import Measurement
import SEVABI

struct IDBlockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "id-block",
        abstract: "Build and sign an SNP ID block and ID authentication info for QEMU or libvirt.",
        discussion: """
        Examples:
          openssl ecparam -name secp384r1 -genkey -noout -out id-key.pem
          m=$(cvm measure --mode sev-snp --firmware OVMF.fd --vcpus 4 --cpu EPYC-v4)
          cvm id-block --measurement "$m" \\
              --id-key id-key.pem --author-key author-key.pem --policy 0x30000
        Prints the 96-byte ID block and the 4096-byte ID auth info in base64, ready for QEMU \
        (-object sev-snp-guest,...,id-block=...,id-auth=...[,author-key-enabled=on]) and libvirt \
        (<idBlock>, <idAuth>), and the ID_KEY_DIGEST / AUTHOR_KEY_DIGEST attestation reports will carry. \
        The firmware refuses the launch unless the measurement and policy match the guest.
        """
    )

    @Option(help: "The expected SNP launch measurement (48 bytes, hex or base64).") var measurement: String
    @Option(help: "ID key: EC P-384 private key, PEM.") var idKey: String
    @Option(help: "Author key: EC P-384 private key, PEM (optional; signs the ID key).") var authorKey: String?
    @Option(help: "FAMILY_ID, 16 bytes hex (default zeros).") var familyId: String?
    @Option(help: "IMAGE_ID, 16 bytes hex (default zeros).") var imageId: String?
    @Option(help: "GUEST_SVN.") var guestSvn: UInt32 = 0
    @Option(help: "SNP guest policy; must equal the launch policy.") var policy = "0x30000"
    @Flag(help: "Print JSON.") var json = false

    struct Output: Codable, Equatable {
        let idBlock: String
        let idAuth: String
        let idKeyDigest: String
        let authorKeyDigest: String?
        let policy: String
        let qemuProperties: String
        let libvirtXML: String
    }

    func run() throws {
        try mappingMeasurementErrors(build)
    }

    private func build() throws {
        guard let rawPolicy = parseUnsignedInteger(policy, as: UInt64.self) else { throw PolicyError.notANumber(policy) }
        let block = try IDBlock(
            launchDigest: try Self.decodeDigest(measurement),
            familyID: try familyId.map { try [UInt8](hex: $0, count: 16) } ?? [UInt8](repeating: 0, count: 16),
            imageID: try imageId.map { try [UInt8](hex: $0, count: 16) } ?? [UInt8](repeating: 0, count: 16),
            guestSVN: guestSvn, policy: try SNPPolicy(rawValue: rawPolicy))
        let id = try IDAuthInfo.privateKey(pem: try pem(idKey), name: "--id-key '\(idKey)'")
        let author = try authorKey.map { try IDAuthInfo.privateKey(pem: try pem($0), name: "--author-key '\($0)'") }
        let auth = try IDAuthInfo(signing: block, idKey: id, authorKey: author)
        let blockText = Data(block.bytes).base64EncodedString()
        let authText = Data(auth.bytes).base64EncodedString()
        let output = Output(
            idBlock: blockText, idAuth: authText, idKeyDigest: auth.idKeyDigest.hexString,
            authorKeyDigest: auth.authorKeyDigest?.hexString, policy: block.policy.description,
            qemuProperties: "id-block=\(blockText),id-auth=\(authText),author-key-enabled=\(author == nil ? "off" : "on")",
            libvirtXML: "<idBlock>\(blockText)</idBlock>\n<idAuth>\(authText)</idAuth>")
        if json {
            try printJSON(output)
            return
        }
        print("id-block: \(output.idBlock)")
        print("id-auth: \(output.idAuth)")
        print("id-key-digest: \(output.idKeyDigest)")
        print("author-key-digest: \(output.authorKeyDigest ?? "(none; author key not enabled)")")
        print("qemu: -object sev-snp-guest,...,policy=\(output.policy),\(output.qemuProperties)")
        print("libvirt (in <launchSecurity type='sev-snp'\(author == nil ? "" : " authorKey='yes'")>, <policy>\(output.policy)</policy>):")
        print(output.libvirtXML)
    }

    private func pem(_ path: String) throws -> String {
        String(decoding: try readFile(path), as: UTF8.self)
    }

    /// A 48-byte measurement as 96 hex digits or 64 base64 characters.
    static func decodeDigest(_ text: String) throws -> [UInt8] {
        if let bytes = try? [UInt8](hex: text, count: 48) { return bytes }
        if let data = Data(base64Encoded: text), data.count == 48 { return [UInt8](data) }
        throw MeasurementError.invalidLength(field: "--measurement (hex or base64)", expected: 48,
                                             found: (try? [UInt8](hex: text).count) ?? Data(base64Encoded: text)?.count ?? 0)
    }
}
