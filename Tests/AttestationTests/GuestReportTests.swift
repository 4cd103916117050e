import Foundation
import Testing
import SEVABI
@testable import Certificates
@testable import GuestAttestation
@testable import SNPReport

/// Drives the configfs-tsm provider against a temporary directory laid out like
/// /sys/kernel/config/tsm/report/NAME (the kernel would fill outblob; here it is a recorded report).
struct GuestReportTests {
    func entry(provider: String = "sev_guest", aux: [UInt8]? = nil) throws -> (URL, AttestationReport) {
        let root = try Subprocess.temporaryDirectory()
        let dir = root.appendingPathComponent("entry0")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let report = try Fixture.report("genoa-v3")
        try Data((provider + "\n").utf8).write(to: dir.appendingPathComponent("provider"))
        try Data("0\n".utf8).write(to: dir.appendingPathComponent("generation"))
        try Data().write(to: dir.appendingPathComponent("inblob"))
        try Data("0\n".utf8).write(to: dir.appendingPathComponent("privlevel"))
        try Data(report.raw).write(to: dir.appendingPathComponent("outblob"))
        try Data(aux ?? []).write(to: dir.appendingPathComponent("auxblob"))
        return (root, report)
    }

    @Test func writesInblobAndPrivlevelAndReadsOutblobAndAuxblob() throws {
        let table = CertificateTable(entries: [.init(guid: CertificateTable.vcek, data: try Fixture.endorsementKey("genoa-v3").der)])
        let (root, report) = try entry(aux: table.bytes)
        let result = try ConfigfsTSM(root: root, entryName: "entry0").getReport(reportData: report.reportData, vmpl: 2)
        #expect(result.report == report.raw)
        #expect(Array(try Data(contentsOf: root.appendingPathComponent("entry0/inblob"))) == report.reportData)
        #expect(String(decoding: try Data(contentsOf: root.appendingPathComponent("entry0/privlevel")), as: UTF8.self) == "2\n")
        let certificates = try CertificateTable(bytes: try #require(result.certificateTable)).certificates()
        #expect(certificates.vcek?.subjectCommonName == "SEV-VCEK")
    }

    @Test func aReportWithOtherDataMeansARace() throws {
        let (root, _) = try entry()
        #expect(throws: GuestReportError.self) {
            _ = try ConfigfsTSM(root: root, entryName: "entry0").getReport(reportData: [1, 2, 3], vmpl: 0)
        }
    }

    @Test func anotherProviderIsRefused() throws {
        let (root, report) = try entry(provider: "arm_cca_guest")
        #expect(throws: GuestReportError.wrongProvider("arm_cca_guest")) {
            _ = try ConfigfsTSM(root: root, entryName: "entry0").getReport(reportData: report.reportData, vmpl: 0)
        }
    }

    @Test func requestLimits() throws {
        let (root, _) = try entry()
        let tsm = ConfigfsTSM(root: root, entryName: "entry0")
        #expect(throws: GuestReportError.reportDataTooLong(65)) { _ = try tsm.getReport(reportData: [UInt8](repeating: 0, count: 65), vmpl: 0) }
        #expect(throws: GuestReportError.vmplOutOfRange(4)) { _ = try tsm.getReport(reportData: [], vmpl: 4) }
    }

    @Test func aFreshEntryIsCreatedAndRemoved() throws {
        // A plain directory does not grow attribute files the way configfs does: reading fails, and the
        // entry created for the request is removed again.
        let root = try Subprocess.temporaryDirectory()
        #expect(throws: GuestReportError.self) { _ = try ConfigfsTSM(root: root).getReport(reportData: [], vmpl: 0) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).isEmpty)
    }
}
