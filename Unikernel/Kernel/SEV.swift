import CPU

/// SEVGuestSetup's machine: the GHCB MSR, VMGEXIT and PVALIDATE as single instructions.
struct KernelSEVMachine: SEVMachine {
    func readGHCBMSR() -> UInt64 { uk_rdmsr(GHCBMSRProtocol.msr) }
    func writeGHCBMSR(_ value: UInt64) { uk_wrmsr(GHCBMSRProtocol.msr, value) }
    func vmgexit() { uk_vmgexit() }
    func pvalidate(address: UInt64, largePage: Bool, validate: Bool) -> PValidateResult {
        var carry: Int32 = 0
        let rax = uk_pvalidate(address, largePage ? 1 : 0, validate ? 1 : 0, &carry)
        return PValidateResult(rax: rax, carry: carry != 0)
    }
}

/// The kernel under SEV-ES and SEV-SNP: the #VC handler (early: CPUID only, from the CPUID page or the
/// MSR protocol; then every exit through the GHCB with VCHandler), the shared pages, SNP page
/// validation (eager at boot or lazy in the page allocator) and the SNP guest request. Under plain SEV
/// and without SEV nothing here runs: no #VC is ever raised and `ghcbReady` stays false.
///
/// None of this has run on SEV hardware (docs/UNIKERNEL-CONFIDENTIAL.md): its logic is SEVGuestSetup and
/// VCHandler, tested on the host against simulated hypervisors and Linux's own definitions.
enum SEV {
    static let statusMSR: UInt32 = 0xc001_0131
    static let sharedPages = Int(UK_SEV_SHARED_PAGES)
    static let certificatePages = 4

    nonisolated(unsafe) static var statusKnown = false
    nonisolated(unsafe) static var snp = false
    nonisolated(unsafe) static var ghcbReady = false
    nonisolated(unsafe) static var protocolVersion: UInt16 = 1
    /// Where the CPUID and secrets pages are: the firmware boot's metadata, or OVMF's CC blob.
    nonisolated(unsafe) static var cpuidPageAddress: UInt64 = 0
    nonisolated(unsafe) static var secretsPageAddress: UInt64 = 0
    nonisolated(unsafe) static var cpuidTable: SNPCPUIDTable? = nil
    nonisolated(unsafe) static var inHandler = false
    /// #VC exceptions taken, for the exits workload's notes.
    nonisolated(unsafe) static var exceptions: UInt64 = 0
    nonisolated(unsafe) static var lazy: LazyValidation? = nil
    nonisolated(unsafe) static var validated = PageValidation.Totals()
    nonisolated(unsafe) static var validationTicks: UInt64 = 0
    nonisolated(unsafe) static var validationPolicy: PageValidation.Policy? = nil

    static var sharedBase: UInt64 { uk_sev_shared_base() }
    static var sharedRange: PhysicalRange { PhysicalRange(start: sharedBase, end: sharedBase + UInt64(sharedPages) * 4096) }
    static var ghcb: GHCB { GHCB(page: UnsafeMutableRawPointer(bitPattern: UInt(sharedBase))!) }

    /// XCR0 as the kernel set it: x87|SSE|AVX with AVX on (uk_enable_avx), else the reset value.
    static var xcr0: UInt64 { uk_avx() != 0 ? 7 : 1 }

    /// Where the CPUID and secrets pages are for this boot, before the first CPUID.
    static func locatePages(kind: UInt32, info: UInt64) {
        if kind == bootKindFirmware {
            cpuidPageAddress = UInt64(UK_SNP_CPUID_PAGE)
            secretsPageAddress = UInt64(UK_SNP_SECRETS_PAGE)
        } else if kind == bootKindEFI, let handoff = try? EFIHandoff(bytes: physical(info, EFIHandoff.size)), handoff.ccBlobAddress != 0,
                  let blob = try? ConfidentialComputingBlob(bytes: physical(handoff.ccBlobAddress, ConfidentialComputingBlob.size)) {
            cpuidPageAddress = blob.cpuidAddress
            secretsPageAddress = blob.secretsAddress
        }
    }

    /// SEV_STATUS, read at the first #VC (which proves SEV-ES or SNP, so the MSR exists) or by detection.
    static func readStatus() {
        guard !statusKnown else { return }
        statusKnown = true
        snp = uk_rdmsr(statusMSR) & 4 != 0
        guard snp else { return }
        guard cpuidPageAddress != 0, let table = try? SNPCPUIDTable(parsing: physical(cpuidPageAddress, 4096)) else { terminate(.cpuid) }
        cpuidTable = table
    }

    // MARK: #VC

    static func handle(_ frame: VCFrame) {
        // A #VC inside the handler would reuse its IST stack: the handler itself never raises one.
        if inHandler { terminate(.unexpectedException) }
        inHandler = true
        defer { inHandler = false }
        exceptions &+= 1
        readStatus()
        let rip = frame.rip
        let available = rip < 1 << 32 ? min(15, (1 << 32) - rip) : 15
        let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(rip)), count: Int(available))
        guard ghcbReady else { return early(frame, bytes) }
        let context = VCHandler.Context(ghcb: ghcb, ghcbAddress: sharedBase, protocolVersion: protocolVersion,
                                        cpuidTable: snp ? cpuidTable : nil, xcr0: xcr0)
        do throws(VCHandler.Failure) {
            try VCHandler.handle(frame: frame, instruction: bytes, context: context, vmgexit: { uk_vmgexit() })
        } catch {
            fail(frame, error.reason)
        }
    }

    /// Before the GHCB: only CPUID, answered from the CPUID page (SNP) or over the MSR protocol (SEV-ES).
    static func early(_ frame: VCFrame, _ bytes: UnsafeRawBufferPointer) {
        guard frame.errorCode == SVMExitCode.cpuid.rawValue, bytes.count >= 2, bytes[0] == 0x0f, bytes[1] == 0xa2 else {
            terminate(.unsupportedInstruction)
        }
        let leaf = UInt32(truncatingIfNeeded: frame[register: 0]), subleaf = UInt32(truncatingIfNeeded: frame[register: 1])
        let result: SNPCPUIDTable.Registers
        if snp {
            guard let table = cpuidTable, let value = try? table.lookup(function: leaf, index: subleaf, xcr0: xcr0) else { terminate(.cpuid) }
            result = value
        } else {
            var machine = KernelSEVMachine()
            guard let value = try? SEVGuestSetup.cpuid(leaf, machine: &machine) else { terminate(.cpuidHypervisor) }
            result = value
        }
        frame[register: 0] = UInt64(result.eax)
        frame[register: 3] = UInt64(result.ebx)
        frame[register: 1] = UInt64(result.ecx)
        frame[register: 2] = UInt64(result.edx)
        frame.rip &+= 2
    }

    /// An exit the handler cannot serve: a `cvmuk exception` line through the GHCB, then termination.
    static func fail(_ frame: VCFrame, _ reason: GHCBMSRProtocol.UnikernelReason) -> Never {
        Console.write("cvmuk exception vector=29 name=#VC error=")
        Console.writeHex(frame.errorCode)
        Console.write(" rip=")
        Console.writeHex(frame.rip)
        Console.write(" reason=")
        Console.writeDecimal(reason.rawValue)
        Console.write("\n")
        terminate(reason)
    }

    /// The GHCB MSR protocol's termination request; the hypervisor ends the guest.
    static func terminate(_ reason: GHCBMSRProtocol.UnikernelReason) -> Never {
        uk_wrmsr(GHCBMSRProtocol.msr, GHCBMSRProtocol.terminateRequest(reason))
        while true { uk_vmgexit() }
    }

    // MARK: Setup

    /// SEV-ES or SNP detected: the protocol version, the GHCB page shared and registered, the
    /// guest-request pages shared. Before this only the early #VC path exists.
    static func setUp(snp isSNP: Bool) {
        readStatus()
        var machine = KernelSEVMachine()
        do throws(SEVGuestSetup.Failure) {
            protocolVersion = try SEVGuestSetup.negotiate(machine: &machine)
            // SNP needs protocol version 2 and a hypervisor that says it supports SNP (GHCB specification).
            let features = isSNP && protocolVersion >= 2 ? try SEVGuestSetup.hypervisorFeatures(machine: &machine) : []
            if isSNP && !features.contains(.snp) {
                uk_wrmsr(GHCBMSRProtocol.msr, GHCBMSRProtocol.terminateRequest(.snpUnsupported))
                while true { uk_vmgexit() }
            }
            splitBootMap()
            try SEVGuestSetup.shareGHCB(at: sharedBase, snp: isSNP, machine: &machine) { mapShared($0) }
            ghcbReady = true
            let rest = PhysicalRange(start: sharedBase + 4096, end: sharedRange.end)
            if isSNP {
                try SEVGuestSetup.makeShared(rest, ghcb: ghcb, ghcbAddress: sharedBase, protocolVersion: protocolVersion, machine: &machine)
            }
            var page = rest.start
            while page < rest.end {
                mapShared(page)
                page += 4096
            }
        } catch {
            terminate(error.reason)
        }
    }

    /// The boot identity map's 2 MiB page that holds the shared pages, as 512 4 KiB pages (uk_boot_pt).
    static func splitBootMap() {
        guard let directory = uk_boot_pd_base(), let table = uk_boot_pt_base() else { terminate(.bootData) }
        let mask = encryptionMask
        let index = Int(sharedBase >> 21)
        let base = UInt64(index) << 21
        for entry in 0..<512 { table[entry] = (base + UInt64(entry) * 4096) | 0x3 | mask }
        directory[index] = UInt64(UInt(bitPattern: table)) | 0x3 | mask
        uk_write_cr3(uk_read_cr3())
    }

    /// One page of the boot map without the C-bit (the final page tables get it from `sharedRange`).
    static func mapShared(_ address: UInt64) {
        guard let table = uk_boot_pt_base() else { terminate(.bootData) }
        table[Int(address >> 12 & 511)] = address | 0x3
        uk_invlpg(address)
    }

    static var encryptionMask: UInt64 { Encryption.detected.encryptionBit.map { 1 << UInt64($0) } ?? 0 }

    // MARK: Console

    /// COM1's data register through the GHCB, without the `out` that would raise a #VC (the handler's
    /// own failure line goes this way). QEMU's UART takes every byte at once, so the line status is not polled.
    static func consolePut(_ byte: UInt8) {
        var machine = KernelSEVMachine()
        do throws(GHCB.ExitError) {
            try GHCBPortIO.write(port: Console.base, size: 1, value: UInt64(byte), ghcb: ghcb, protocolVersion: protocolVersion, machine: &machine)
        } catch {
            terminate(.hypervisorError)
        }
    }

    // MARK: SNP page validation

    /// Under SNP on the firmware boot: the RAM the launch did not validate, validated now (eager) or
    /// when the page allocator first hands it out (lazy).
    static func prepareValidation(required: [PhysicalRange], policy: PageValidation.Policy) {
        validationPolicy = policy
        if policy == .lazy {
            lazy = LazyValidation(required: required)
            return
        }
        // The boot map covers the low 4 GiB; RAM above waits for the final page tables (finishValidation).
        var low: [PhysicalRange] = []
        for range in required where range.start < bootMapEnd {
            low.append(PhysicalRange(start: range.start, end: min(range.end, bootMapEnd)))
        }
        for range in required where range.end > bootMapEnd {
            highRanges.append(PhysicalRange(start: max(range.start, bootMapEnd), end: range.end))
        }
        validate(low)
    }

    static let bootMapEnd: UInt64 = 4 << 30
    nonisolated(unsafe) static var highRanges: [PhysicalRange] = []

    /// Eager validation's second part, once the final page tables map RAM above 4 GiB.
    static func finishValidation() {
        let ranges = highRanges
        highRanges = []
        validate(ranges)
    }

    static func validate(_ ranges: [PhysicalRange]) {
        guard !ranges.isEmpty else { return }
        var machine = KernelSEVMachine()
        let start = uk_rdtsc()
        do throws(SEVGuestSetup.Failure) {
            let totals = try SEVGuestSetup.makePrivate(ranges, ghcb: ghcb, ghcbAddress: sharedBase, protocolVersion: protocolVersion, machine: &machine)
            validated.largePages += totals.largePages
            validated.smallPages += totals.smallPages
            validated.bytes += totals.bytes
        } catch {
            terminate(error.reason)
        }
        validationTicks &+= uk_rdtsc() &- start
    }

    /// The page allocator's hook: pages about to be handed out, validated first under lazy validation.
    static func willUse(_ range: PhysicalRange) {
        guard var pending = lazy else { return }
        let ranges = pending.take(covering: range)
        lazy = pending
        validate(ranges)
    }

    /// `cvmuk stage name=validate ...`: what validation has cost so far.
    static func validationLine(hz: UInt64) -> ResultLine {
        var line = ResultLine("stage")
        line.field("name", "validate")
        line.field("policy", validationPolicy == .lazy ? "lazy" : "eager")
        line.field("pages_2m", validated.largePages)
        line.field("pages_4k", validated.smallPages)
        line.field("bytes", validated.bytes)
        line.field("remaining_bytes", lazy?.remainingBytes ?? 0)
        line.field("us", TSCCalibration.microseconds(ticks: validationTicks, hz: hz))
        return line
    }

    // MARK: SNP guest request

    enum AttestationFailure {
        case secretsPage
        case noKey
        case request(SNPGuestRequest.Failure)

        var reason: StaticString {
            switch self {
            case .secretsPage: "secrets-page"
            case .noKey: "no-vmpck0"
            case .request(.certificateBufferTooSmall): "certificate-buffer-too-small"
            case .request(.busy): "psp-busy"
            case .request(.firmware): "firmware-error"
            case .request(.hypervisor): "hypervisor-error"
            case .request(.ghcb): "ghcb-error"
            case .request(.message): "bad-response"
            }
        }
    }

    /// A report with `reportData` from the PSP: MSG_REPORT_REQ sealed with VMPCK0 (sequence number from the
    /// secrets page's OS area), sent with the extended guest request so the host's certificates come too.
    static func attestationReport(reportData: [UInt8]) -> Swift.Result<SNPGuestRequest.Result, AttestationFailureBox> {
        guard secretsPageAddress != 0, let secrets = try? SNPSecretsPage(parsing: physical(secretsPageAddress, SNPSecretsPage.size)) else {
            return .failure(AttestationFailureBox(.secretsPage))
        }
        guard let key = secrets.vmpck(0), let osArea = UnsafeRawPointer(bitPattern: UInt(secretsPageAddress + UInt64(SNPSecretsPage.osAreaOffset))) else {
            return .failure(AttestationFailureBox(.noKey))
        }
        // OS area: VMPL0's last message sequence number, a u32 at its start (Linux `struct secrets_os_area`
        // msg_seqno_0; 0 after launch, since the firmware sends no guest request).
        let last = UInt64(osArea.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard var channel = try? SNPGuestChannel(key: key, vmpck: 0, lastSequenceNumber: last) else { return .failure(AttestationFailureBox(.noKey)) }
        func page(_ index: Int) -> (UnsafeMutableRawPointer, UInt64) {
            let address = sharedBase + UInt64(index) * 4096
            return (UnsafeMutableRawPointer(bitPattern: UInt(address))!, address)
        }
        let (request, requestAddress) = page(1), (response, responseAddress) = page(2), (certificates, certificatesAddress) = page(3)
        let pages = SNPGuestRequest.Pages(request: request, requestAddress: requestAddress, response: response, responseAddress: responseAddress,
                                          certificates: certificates, certificatesAddress: certificatesAddress, certificatePages: certificatePages)
        do throws(SNPGuestRequest.Failure) {
            let result = try SNPGuestRequest.report(reportData: reportData, channel: &channel, pages: pages, ghcb: ghcb,
                                                    protocolVersion: protocolVersion, vmgexit: { uk_vmgexit() })
            return .success(result)
        } catch {
            return .failure(AttestationFailureBox(.request(error)))
        }
    }

    struct AttestationFailureBox: Error {
        var failure: AttestationFailure
        init(_ failure: AttestationFailure) { self.failure = failure }
    }
}
