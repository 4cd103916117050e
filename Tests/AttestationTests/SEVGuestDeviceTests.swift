@testable import Certificates
@testable import GuestAttestation
import Foundation
import Glibc
import Testing

/// Plays the kernel's side of /dev/sev-guest as include/uapi/linux/sev-guest.h and the driver define it:
/// reads struct snp_guest_request_ioctl and the request through its pointers, writes MSG_REPORT_RSP and,
/// for SNP_GET_EXT_REPORT, the certificate table or (buffer too small) the needed length with the VMM's
/// INVALID_LEN error in exitinfo2's upper half.
final class SimulatedSEVGuestKernel: SEVGuestIoctlChannel, @unchecked Sendable {
    let report: [UInt8]
    let table: [UInt8]
    /// What the guest's certificate table needs, rounded up to pages by the kernel.
    var neededLength: Int { (table.count + 4095) / 4096 * 4096 }
    private(set) var calls: [(request: UInt, userData: [UInt8], vmpl: UInt32, certsLength: UInt32?)] = []
    var firmwareError: UInt32 = 0

    init(report: [UInt8], table: [UInt8]) {
        self.report = report
        self.table = table
    }

    func ioctl(_ request: UInt, _ argument: UnsafeMutableRawPointer) -> (result: Int32, errno: Int32) {
        guard request == SEVGuestDevice.getReportRequest || request == SEVGuestDevice.getExtendedReportRequest,
              argument.load(as: UInt8.self) == 1,
              let input = UnsafeMutableRawPointer(bitPattern: UInt(argument.loadUnaligned(fromByteOffset: 8, as: UInt64.self))),
              let output = UnsafeMutableRawPointer(bitPattern: UInt(argument.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        else { return (-1, EINVAL) }
        let userData = Array(UnsafeRawBufferPointer(start: input, count: 64))
        let vmpl = input.loadUnaligned(fromByteOffset: 64, as: UInt32.self)
        guard UnsafeRawBufferPointer(start: input + 68, count: 28).allSatisfy({ $0 == 0 }) else { return (-1, EINVAL) }
        var certsLength: UInt32?
        if request == SEVGuestDevice.getExtendedReportRequest {
            let length = input.loadUnaligned(fromByteOffset: 104, as: UInt32.self)
            certsLength = length
            calls.append((request, userData, vmpl, length))
            guard length % 4096 == 0, let certs = UnsafeMutableRawPointer(bitPattern: UInt(input.loadUnaligned(fromByteOffset: 96, as: UInt64.self))) else {
                return (-1, EINVAL)
            }
            if Int(length) < table.count {
                input.storeBytes(of: UInt32(neededLength), toByteOffset: 104, as: UInt32.self)
                argument.storeBytes(of: UInt64(1) << 32, toByteOffset: 24, as: UInt64.self)
                return (-1, EIO)
            }
            table.withUnsafeBytes { certs.copyMemory(from: $0.baseAddress!, byteCount: table.count) }
        } else {
            calls.append((request, userData, vmpl, certsLength))
        }
        if firmwareError != 0 {
            argument.storeBytes(of: UInt64(firmwareError), toByteOffset: 24, as: UInt64.self)
            return (-1, EIO)
        }
        output.storeBytes(of: UInt32(0), toByteOffset: 0, as: UInt32.self)
        output.storeBytes(of: UInt32(report.count), toByteOffset: 4, as: UInt32.self)
        report.withUnsafeBytes { (output + 32).copyMemory(from: $0.baseAddress!, byteCount: report.count) }
        return (0, 0)
    }
}

@Suite struct SEVGuestDeviceTests {
    func kernel(tablePadding: Int = 0) throws -> SimulatedSEVGuestKernel {
        let report = try Fixture.bytes("snp/genoa-v3/report.bin")
        let table = CertificateTable(entries: [.init(guid: CertificateTable.vcek, data: try Fixture.endorsementKey("genoa-v3").der)])
        return SimulatedSEVGuestKernel(report: report, table: table.bytes + [UInt8](repeating: 0, count: tablePadding))
    }

    @Test func plainReportCarriesUserDataAndVMPL() throws {
        let kernel = try kernel()
        let device = SEVGuestDevice(requestCertificates: false, channel: kernel)
        let result = try device.getReport(reportData: [0xAB, 0xCD], vmpl: 2)
        #expect(result.report == kernel.report)
        #expect(result.certificateTable == nil)
        #expect(kernel.calls.count == 1)
        #expect(kernel.calls[0].request == 0xC020_5300)
        #expect(kernel.calls[0].userData == [0xAB, 0xCD] + [UInt8](repeating: 0, count: 62))
        #expect(kernel.calls[0].vmpl == 2)
    }

    @Test func extendedReportReturnsTheHostCertificates() throws {
        let kernel = try kernel()
        let result = try SEVGuestDevice(channel: kernel).getReport(reportData: [1], vmpl: 0)
        #expect(result.report == kernel.report)
        #expect(kernel.calls.map(\.request) == [0xC020_5302])
        let certificates = try CertificateTable(bytes: try #require(result.certificateTable)).certificates()
        #expect(certificates.vcek?.subjectCommonName == "SEV-VCEK")
    }

    @Test func aLargerTableMakesOneRetryWithTheLengthTheKernelAsked() throws {
        let kernel = try kernel(tablePadding: 5 * 4096)
        let result = try SEVGuestDevice(channel: kernel).getReport(reportData: [], vmpl: 1)
        #expect(kernel.calls.map(\.certsLength) == [16384, UInt32(kernel.neededLength)])
        #expect(try CertificateTable(bytes: try #require(result.certificateTable)).certificates().vcek != nil)
    }

    @Test func aTableAboveTheKernelLimitIsRefused() throws {
        let kernel = try kernel(tablePadding: 20 * 4096)
        #expect(throws: GuestReportError.self) { try SEVGuestDevice(channel: kernel).getReport(reportData: [], vmpl: 0) }
        #expect(kernel.calls.count == 1)
    }

    @Test func firmwareErrorsAreNamed() throws {
        let kernel = try kernel()
        kernel.firmwareError = 0x16
        do {
            _ = try SEVGuestDevice(requestCertificates: false, channel: kernel).getReport(reportData: [], vmpl: 0)
            Issue.record("expected a failure")
        } catch let error as GuestReportError {
            #expect(error.description.contains("SNP_GET_REPORT failed"))
            #expect(error.description.contains("firmware error 0x16"))
        }
    }

    @Test func requestLimitsComeFirst() throws {
        let kernel = try kernel()
        #expect(throws: GuestReportError.reportDataTooLong(65)) { try SEVGuestDevice(channel: kernel).getReport(reportData: [UInt8](repeating: 0, count: 65), vmpl: 0) }
        #expect(throws: GuestReportError.vmplOutOfRange(4)) { try SEVGuestDevice(channel: kernel).getReport(reportData: [], vmpl: 4) }
        #expect(kernel.calls.isEmpty)
    }

    @Test func aMissingDeviceIsAClearError() {
        let device = SEVGuestDevice(path: "/nonexistent/sev-guest", requestCertificates: false)
        #expect(throws: GuestReportError.self) { try device.getReport(reportData: [], vmpl: 0) }
    }
}
