import Foundation
import Testing
import SEVABI
@testable import Attestation
@testable import Certificates

struct CertificateTableTests {
    func sampleEntries() throws -> [CertificateTable.Entry] {
        [
            .init(guid: CertificateTable.vcek, data: try Fixture.bytes("snp/milan-v2/vcek.der")),
            .init(guid: CertificateTable.ask, data: try AMDRoots.roots(for: .milan).ask.der),
            .init(guid: CertificateTable.ark, data: try AMDRoots.roots(for: .milan).ark.der),
        ]
    }

    @Test func layoutFollowsTheGHCBSpecification() throws {
        let entries = try sampleEntries()
        let blob = CertificateTable(entries: entries).bytes
        // Entry 0: the VCEK GUID in RFC 4122 byte order, offset after 4 × 24 header bytes, its length.
        #expect(Array(blob[0..<16]) == (try [UInt8](hex: "63da758de6644564adc5f4b93be8accd")))
        #expect(Array(blob[16..<20]) == [96, 0, 0, 0])
        #expect(Array(blob[20..<24]) == UInt32(entries[0].data.count).littleEndianBytes)
        #expect(blob[72..<96].allSatisfy { $0 == 0 })
        #expect(Array(blob[96..<(96 + entries[0].data.count)]) == entries[0].data)
    }

    @Test func roundTripAndPlacement() throws {
        let table = CertificateTable(entries: try sampleEntries())
        let parsed = try CertificateTable(bytes: table.bytes)
        #expect(parsed == table)
        let certificates = try parsed.certificates()
        #expect(certificates.vcek?.subjectCommonName == "SEV-VCEK")
        #expect(certificates.ask?.subjectCommonName == "SEV-Milan")
        #expect(certificates.ark?.subjectCommonName == "ARK-Milan")
        let set = try #require(certificates.certificateSet(for: .vcek))
        let verdict = try ReportVerifier.verify(report: Fixture.report("milan-v2"), certificates: set)
        #expect(verdict.passed)
    }

    @Test func hostileTablesAreRejected() throws {
        var blob = CertificateTable(entries: try sampleEntries()).bytes
        #expect(throws: CertificateTableError.self) { try CertificateTable(bytes: Array(blob.prefix(72))) }
        // One entry covering the whole blob and no terminator: the reader must stop, not run off the end.
        let selfCovering = CertificateTable.vcek.bytes + UInt32(0).littleEndianBytes + UInt32(24).littleEndianBytes
        #expect(throws: CertificateTableError.unterminated) { try CertificateTable(bytes: selfCovering) }
        #expect(throws: CertificateTableError.truncated(entry: 1)) { try CertificateTable(bytes: selfCovering + [1, 2, 3]) }
        blob.replaceSubrange(20..<24, with: UInt32(0xFFFF_FFF0).littleEndianBytes)
        #expect(throws: CertificateTableError.self) { try CertificateTable(bytes: blob) }
    }
}
