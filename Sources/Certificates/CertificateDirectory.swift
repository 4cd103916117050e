import Foundation
import SNPReport

/// Reads the certificates a host, snpguest or `cvm attest fetch` leaves in a directory: ark, ask, asvk,
/// vcek, vlek with a .pem, .der, .crt or .cer extension, cert_chain.pem (ASK then ARK, as KDS serves it),
/// and certs.bin (a host certificate table, as configfs-tsm's auxblob).
public struct CertificateDirectory: Sendable {
    public var ark: Certificate?
    public var ask: Certificate?
    public var asvk: Certificate?
    public var vcek: Certificate?
    public var vlek: Certificate?

    public enum Error: Swift.Error, CustomStringConvertible, Sendable {
        case unreadable(path: String, reason: String)

        public var description: String {
            switch self { case let .unreadable(path, reason): return "\(path): \(reason)" }
        }
    }

    public init() {}

    public init(directory: URL) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Error.unreadable(path: directory.path, reason: "not a directory")
        }
        func load(_ base: String) throws -> Certificate? {
            for ext in ["pem", "der", "crt", "cer"] {
                let url = directory.appendingPathComponent("\(base).\(ext)")
                guard fm.fileExists(atPath: url.path) else { continue }
                do { return try Certificate(bytes: Array(Data(contentsOf: url))) } catch {
                    throw Error.unreadable(path: url.path, reason: "\(error)")
                }
            }
            return nil
        }
        let table = directory.appendingPathComponent("certs.bin")
        if fm.fileExists(atPath: table.path) {
            do {
                let parsed = try CertificateTable(bytes: Array(Data(contentsOf: table)))
                try merge(parsed.certificates())
            } catch {
                throw Error.unreadable(path: table.path, reason: "\(error)")
            }
        }
        let chain = directory.appendingPathComponent("cert_chain.pem")
        if fm.fileExists(atPath: chain.path) {
            do {
                for cert in try Certificate.parseBundle(Array(Data(contentsOf: chain))) { place(cert) }
            } catch {
                throw Error.unreadable(path: chain.path, reason: "\(error)")
            }
        }
        ark = try load("ark") ?? ark
        ask = try load("ask") ?? ask
        asvk = try load("asvk") ?? asvk
        vcek = try load("vcek") ?? vcek
        vlek = try load("vlek") ?? vlek
    }

    mutating func merge(_ other: CertificateDirectory) throws {
        ark = other.ark ?? ark
        ask = other.ask ?? ask
        asvk = other.asvk ?? asvk
        vcek = other.vcek ?? vcek
        vlek = other.vlek ?? vlek
    }

    /// Files the certificate by its subject common name (ARK-*, SEV-VLEK-*, SEV-*, SEV-VCEK, SEV-VLEK).
    mutating func place(_ cert: Certificate) {
        let name = cert.subjectCommonName ?? ""
        if name.hasPrefix("ARK-") { ark = cert }
        else if name == "SEV-VCEK" { vcek = cert }
        else if name == "SEV-VLEK" { vlek = cert }
        else if name.hasPrefix("SEV-VLEK-") { asvk = cert }
        else if name.hasPrefix("SEV-") { ask = cert }
    }

    /// The set for a report signed by `key`, or nil when the endorsement key is missing.
    public func certificateSet(for key: SigningKey) -> CertificateSet? {
        guard let leaf = key == .vlek ? vlek : vcek else { return nil }
        return CertificateSet(endorsementKey: leaf, ark: ark, ask: ask, asvk: asvk)
    }
}
