import Foundation
@testable import Certificates
@testable import SNPReport

/// Loads test data copied from ../shared/vectors (see NOTICE for origins and licences).
enum Fixture {
    static func url(_ path: String) -> URL {
        guard let base = Bundle.module.resourceURL else { fatalError("test bundle has no resources") }
        return base.appendingPathComponent("Fixtures").appendingPathComponent(path)
    }

    static func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: url(path))) }

    static func report(_ name: String) throws -> AttestationReport {
        try AttestationReport(bytes: bytes("snp/\(name)/report.bin"))
    }

    static func endorsementKey(_ name: String) throws -> Certificate {
        let file = ["vcek.der", "vcek.pem", "vlek.der"].first {
            FileManager.default.fileExists(atPath: url("snp/\(name)/\($0)").path)
        } ?? "vcek.der"
        return try Certificate(bytes: bytes("snp/\(name)/\(file)"))
    }

    /// The vectors README: the VLEK expired on 2025-12-10, so it is checked at a time before that.
    static func time(for name: String) -> Date {
        name == "milan-vlek-v3" ? Date(timeIntervalSince1970: 1_746_057_600) /* 2025-05-01 */ : Date()
    }

    static let cases = ["milan-v2", "genoa-v3", "turin-v5", "milan-vlek-v3"]
}
