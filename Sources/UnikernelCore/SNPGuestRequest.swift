/// The SNP guest request from inside the guest (GHCB specification, "SNP Guest Request" and "SNP
/// Extended Guest Request"; SEV-SNP firmware ABI, MSG_REPORT_REQ): the sealed request goes into a shared
/// request page, the hypervisor hands it to the PSP and puts the sealed response into a shared response
/// page; the extended form also returns the host's certificate table in shared pages the guest offers.
///
/// Exit: SW_EXITCODE 0x8000_0012, SW_EXITINFO1 = request page GPA, SW_EXITINFO2 = response page GPA,
/// RAX = certificate pages GPA, RBX = their number. Result: SW_EXITINFO2 = VMM error << 32 | firmware
/// error; VMM error 1 means the certificate buffer is too small (RBX then holds the pages needed),
/// 2 that the PSP is busy (ask again with the same sequence number).
public enum SNPGuestRequest {
    public static let vmmErrorInvalidLength: UInt64 = 1
    public static let vmmErrorBusy: UInt64 = 2
    public static let busyRetries = 16

    /// The shared pages of one request, as the kernel maps them (C-bit clear) and as the hypervisor sees
    /// them by guest physical address.
    public struct Pages {
        public var request: UnsafeMutableRawPointer
        public var requestAddress: UInt64
        public var response: UnsafeMutableRawPointer
        public var responseAddress: UInt64
        public var certificates: UnsafeMutableRawPointer
        public var certificatesAddress: UInt64
        public var certificatePages: Int

        public init(request: UnsafeMutableRawPointer, requestAddress: UInt64, response: UnsafeMutableRawPointer, responseAddress: UInt64,
                    certificates: UnsafeMutableRawPointer, certificatesAddress: UInt64, certificatePages: Int) {
            self.request = request
            self.requestAddress = requestAddress
            self.response = response
            self.responseAddress = responseAddress
            self.certificates = certificates
            self.certificatesAddress = certificatesAddress
            self.certificatePages = certificatePages
        }
    }

    public enum Failure: Error, Equatable, Sendable {
        case message(GuestMessageError)
        case ghcb(GHCB.ExitError)
        /// The certificate table needs this many pages; the guest offered fewer.
        case certificateBufferTooSmall(pagesNeeded: Int)
        case busy
        /// The PSP refused the request (its firmware error code).
        case firmware(UInt64)
        case hypervisor(UInt64)
    }

    /// The report and the certificate table (empty when the host keeps none).
    public struct Result {
        public var report: [UInt8]
        public var certificates: [UInt8]
    }

    /// Asks for an attestation report with `reportData` over `channel`, through the GHCB.
    public static func report(reportData: [UInt8], channel: inout SNPGuestChannel, pages: Pages, ghcb: GHCB, protocolVersion: UInt16,
                              vmgexit: () -> Void) throws(Failure) -> Result {
        let request: SNPGuestChannel.Request
        do throws(GuestMessageError) {
            request = try channel.seal(SNPReportRequest(reportData: reportData).bytes, type: .reportRequest)
        } catch { throw .message(error) }
        pages.request.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        for (offset, byte) in request.bytes.enumerated() { pages.request.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self) }
        pages.response.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)

        var attempt = 0
        while true {
            ghcb.clear(protocolVersion: protocolVersion)
            ghcb.set(.rax, pages.certificatesAddress)
            ghcb.set(.rbx, UInt64(pages.certificatePages))
            ghcb.set(.exitCode, SVMExitCode.extendedGuestRequest.rawValue)
            ghcb.set(.exitInfo1, pages.requestAddress)
            ghcb.set(.exitInfo2, pages.responseAddress)
            vmgexit()
            do throws(GHCB.ExitError) { try ghcb.checkResult() } catch { throw .ghcb(error) }
            let status = ghcb.get(.exitInfo2)
            let vmm = status >> 32, firmware = status & 0xffff_ffff
            if vmm == vmmErrorBusy {
                attempt += 1
                guard attempt < busyRetries else { throw .busy }
                continue
            }
            if vmm == vmmErrorInvalidLength { throw .certificateBufferTooSmall(pagesNeeded: Int(truncatingIfNeeded: ghcb.get(.rbx))) }
            guard vmm == 0 else { throw .hypervisor(vmm) }
            guard firmware == 0 else { throw .firmware(firmware) }
            break
        }

        var response = [UInt8](repeating: 0, count: 4096)
        for offset in 0..<4096 { response[offset] = pages.response.load(fromByteOffset: offset, as: UInt8.self) }
        let payload: [UInt8]
        do throws(GuestMessageError) { payload = try channel.open(response, answering: request) } catch { throw .message(error) }
        let parsed: Swift.Result<[UInt8], GuestMessageError> = payload.withUnsafeBytes { raw in
            do throws(GuestMessageError) { return .success(Array(try SNPReportResponse.report(in: raw))) } catch { return .failure(error) }
        }
        let report: [UInt8]
        switch parsed {
        case .success(let bytes): report = bytes
        case .failure(let error): throw .message(error)
        }
        return Result(report: report, certificates: certificateTable(pages.certificates, pages: pages.certificatePages))
    }

    /// The certificate table's bytes: entries of {GUID, u32 offset, u32 length} up to an all-zero entry,
    /// and the certificates they point at (GHCB specification, "SNP Extended Guest Request").
    static func certificateTable(_ base: UnsafeMutableRawPointer, pages: Int) -> [UInt8] {
        let size = pages * 4096
        guard size >= 24 else { return [] }
        var end = 0, offset = 0
        while offset + 24 <= size {
            var zero = true
            for byte in 0..<24 where base.load(fromByteOffset: offset + byte, as: UInt8.self) != 0 { zero = false }
            if zero { break }
            let start = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset + 16, as: UInt32.self)))
            let length = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset + 20, as: UInt32.self)))
            if start <= size, length <= size - start { end = max(end, start + length) }
            offset += 24
        }
        guard offset > 0 else { return [] }
        end = max(end, offset + 24)
        var bytes = [UInt8](repeating: 0, count: min(end, size))
        for index in 0..<bytes.count { bytes[index] = base.load(fromByteOffset: index, as: UInt8.self) }
        return bytes
    }
}
