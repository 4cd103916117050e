/// PVALIDATE's outcome (AMD APM vol. 3, PVALIDATE): RAX 0 with CF clear when the RMP entry changed; CF
/// set when it already had the requested state (no update: an honest hypervisor never lets that happen
/// to a page the guest is validating, so the kernel takes it as an attack); RAX 1 FAIL_INPUT,
/// 6 FAIL_SIZEMISMATCH (a 2 MiB request on a range the RMP holds as 4 KiB pages), 0x10 FAIL_PERMISSION.
public enum PValidateResult: Equatable, Sendable {
    case success
    case unchanged
    case failed(UInt64)

    public static let sizeMismatch: UInt64 = 6

    public init(rax: UInt64, carry: Bool) {
        if rax != 0 { self = .failed(rax) } else { self = carry ? .unchanged : .success }
    }
}

/// What the SEV-ES and SNP glue needs of the CPU besides memory: the GHCB MSR, VMGEXIT and PVALIDATE.
/// The kernel implements it with single instructions; the host tests with a simulated hypervisor and RMP.
public protocol SEVMachine {
    mutating func readGHCBMSR() -> UInt64
    mutating func writeGHCBMSR(_ value: UInt64)
    mutating func vmgexit()
    mutating func pvalidate(address: UInt64, largePage: Bool, validate: Bool) -> PValidateResult
}

/// The steps an SEV-ES or SNP guest takes with the hypervisor, in the order the GHCB specification
/// (AMD pub. 56421) and Linux (arch/x86/boot/startup/sev-shared.c, arch/x86/coco/sev) take them:
/// protocol negotiation and CPUID over the MSR protocol before a GHCB exists; the GHCB page made shared
/// (under SNP: validation rescinded, page state changed to shared, then its GPA registered); page state
/// changes through the GHCB and PVALIDATE for private memory, and the reverse for pages the host must read.
public enum SEVGuestSetup {
    public enum Failure: Error, Equatable, Sendable {
        case msrProtocol(GHCBMSRProtocol.ResponseError)
        /// The hypervisor's protocol range does not meet ours (1…2).
        case noCommonVersion(minimum: UInt16, maximum: UInt16)
        case ghcb(GHCB.ExitError)
        /// The hypervisor refused a page state change (SW_EXITINFO2).
        case pageStateChange(UInt64)
        /// The hypervisor returned without advancing the page state change descriptor.
        case pageStateChangeStalled(current: UInt16, end: UInt16)
        case pvalidate(address: UInt64, largePage: Bool, result: PValidateResult)
        case plan(PageStateChange.PlanError)

        /// The reason code the kernel terminates with (GHCBMSRProtocol.UnikernelReason).
        public var reason: GHCBMSRProtocol.UnikernelReason {
            switch self {
            case .msrProtocol, .noCommonVersion, .ghcb: .hypervisorError
            case .pageStateChange, .pageStateChangeStalled: .pageStateChange
            case .pvalidate, .plan: .pageValidation
            }
        }
    }

    /// One MSR-protocol exchange: write the request, VMGEXIT, read the response.
    public static func exchange<M: SEVMachine>(_ request: UInt64, machine: inout M) -> UInt64 {
        machine.writeGHCBMSR(request)
        machine.vmgexit()
        return machine.readGHCBMSR()
    }

    /// SEV information request: the protocol version both sides speak.
    public static func negotiate<M: SEVMachine>(machine: inout M) throws(Failure) -> UInt16 {
        let information: GHCBMSRProtocol.SEVInformation
        do throws(GHCBMSRProtocol.ResponseError) {
            information = try GHCBMSRProtocol.sevInformation(exchange(GHCBMSRProtocol.sevInfoRequest, machine: &machine))
        } catch { throw .msrProtocol(error) }
        guard let version = information.negotiatedVersion else {
            throw .noCommonVersion(minimum: information.minimumVersion, maximum: information.maximumVersion)
        }
        return version
    }

    /// The hypervisor's feature bitmap (protocol version 2). An SNP guest needs `.snp` before it relies on
    /// page state changes and the guest request.
    public static func hypervisorFeatures<M: SEVMachine>(machine: inout M) throws(Failure) -> GHCBMSRProtocol.HypervisorFeatures {
        do throws(GHCBMSRProtocol.ResponseError) {
            return try GHCBMSRProtocol.hypervisorFeatures(exchange(GHCBMSRProtocol.hypervisorFeaturesRequest, machine: &machine))
        } catch { throw .msrProtocol(error) }
    }

    /// CPUID through the MSR protocol, one request per register (the protocol carries no subleaf, so only
    /// leaves without one: the boot path's 0x8000_001F and its neighbours). The MSR is restored after, so
    /// a registered GHCB address survives.
    public static func cpuid<M: SEVMachine>(_ leaf: UInt32, machine: inout M) throws(Failure) -> SNPCPUIDTable.Registers {
        let saved = machine.readGHCBMSR()
        defer { machine.writeGHCBMSR(saved) }
        var values: [UInt32] = [0, 0, 0, 0]
        for register in GHCBMSRProtocol.CPUIDRegister.allCases {
            let answer = exchange(GHCBMSRProtocol.cpuidRequest(function: leaf, register: register), machine: &machine)
            do throws(GHCBMSRProtocol.ResponseError) { values[Int(register.rawValue)] = try GHCBMSRProtocol.cpuidValue(answer) } catch {
                throw .msrProtocol(error)
            }
        }
        return SNPCPUIDTable.Registers(eax: values[0], ebx: values[1], ecx: values[2], edx: values[3])
    }

    /// Makes the GHCB page at `address` shared and tells the hypervisor where it is. Under SNP the launch
    /// left the page private and validated: validation is rescinded first (a private validated page the
    /// host could write would be a hole), then the page state is changed to shared over the MSR protocol;
    /// `remap` then maps the page without the C-bit (and flushes it from the TLB); under SNP the GPA is
    /// registered; last the GHCB MSR is set to the page's address.
    public static func shareGHCB<M: SEVMachine>(at address: UInt64, snp: Bool, machine: inout M, remap: (UInt64) -> Void) throws(Failure) {
        if snp {
            try rescind(PageStateChange.Entry(frame: address >> 12, operation: .shared, isLarge: false), machine: &machine)
            do throws(GHCBMSRProtocol.ResponseError) {
                try GHCBMSRProtocol.checkPageStateChangeResponse(
                    exchange(GHCBMSRProtocol.pageStateChangeRequest(frame: address >> 12, to: .shared), machine: &machine))
            } catch { throw .msrProtocol(error) }
        }
        remap(address)
        if snp {
            do throws(GHCBMSRProtocol.ResponseError) {
                try GHCBMSRProtocol.checkRegisterGHCBResponse(
                    exchange(GHCBMSRProtocol.registerGHCBRequest(frame: address >> 12), machine: &machine), frame: address >> 12)
            } catch { throw .msrProtocol(error) }
        }
        machine.writeGHCBMSR(address)
    }

    /// Page state changes through the GHCB (SW_EXITCODE 0x8000_0010), at most 253 entries per descriptor.
    /// The hypervisor may do part of a descriptor and return; the guest exits again until the current
    /// entry passes the end entry. A return that advanced nothing, twice in a row, is an error.
    public static func changePageState<M: SEVMachine>(_ entries: [PageStateChange.Entry], ghcb: GHCB, ghcbAddress: UInt64,
                                                      protocolVersion: UInt16, machine: inout M) throws(Failure) {
        var start = 0
        while start < entries.count {
            let batch = entries[start..<min(start + PageStateChange.maximumEntries, entries.count)]
            ghcb.clear(protocolVersion: protocolVersion)
            PageStateChange.write(batch, to: ghcb.sharedBuffer)
            var last: (current: UInt16, end: UInt16)? = nil
            var idle = 0
            while true {
                ghcb.set(.exitCode, SVMExitCode.pageStateChange.rawValue)
                ghcb.set(.exitInfo1, 0)
                ghcb.set(.exitInfo2, 0)
                ghcb.set(.scratch, ghcbAddress + UInt64(GHCB.sharedBufferOffset))
                machine.vmgexit()
                do throws(GHCB.ExitError) { try ghcb.checkResult() } catch { throw .ghcb(error) }
                let status = ghcb.get(.exitInfo2)
                guard status == 0 else { throw .pageStateChange(status) }
                let progress = PageStateChange.progress(in: ghcb.sharedBuffer)
                if progress.current > progress.end { break }
                if let last, last.current == progress.current {
                    idle += 1
                    guard idle < 2 else { throw .pageStateChangeStalled(current: progress.current, end: progress.end) }
                } else {
                    idle = 0
                }
                last = progress
            }
            start += batch.count
        }
    }

    /// PVALIDATE for each entry (validate = true) in the entry's size; a 2 MiB entry the RMP holds as
    /// 4 KiB pages (FAIL_SIZEMISMATCH) is done as its 512 pages. Returns the PVALIDATE calls by size.
    public static func validate<M: SEVMachine>(_ entries: [PageStateChange.Entry], machine: inout M) throws(Failure) -> PageValidation.Totals {
        var totals = PageValidation.Totals()
        for entry in entries {
            let result = machine.pvalidate(address: entry.address, largePage: entry.isLarge, validate: true)
            if result == .success {
                if entry.isLarge { totals.largePages += 1 } else { totals.smallPages += 1 }
                totals.bytes += entry.byteCount
                continue
            }
            guard entry.isLarge, result == .failed(PValidateResult.sizeMismatch) else {
                throw .pvalidate(address: entry.address, largePage: entry.isLarge, result: result)
            }
            for page in 0..<UInt64(512) {
                let address = entry.address + page * PageStateChange.smallPage
                let small = machine.pvalidate(address: address, largePage: false, validate: true)
                guard small == .success else { throw .pvalidate(address: address, largePage: false, result: small) }
                totals.smallPages += 1
                totals.bytes += PageStateChange.smallPage
            }
        }
        return totals
    }

    /// Rescinds one entry's validation (validate = false), the first step of making private memory shared.
    static func rescind<M: SEVMachine>(_ entry: PageStateChange.Entry, machine: inout M) throws(Failure) {
        let result = machine.pvalidate(address: entry.address, largePage: entry.isLarge, validate: false)
        guard result == .success else { throw .pvalidate(address: entry.address, largePage: entry.isLarge, result: result) }
    }

    /// Private memory for the guest's own use: page state changed to private, then validated.
    public static func makePrivate<M: SEVMachine>(_ ranges: [PhysicalRange], largePages: Bool = true, ghcb: GHCB, ghcbAddress: UInt64,
                                                  protocolVersion: UInt16, machine: inout M) throws(Failure) -> PageValidation.Totals {
        let entries: [PageStateChange.Entry]
        do throws(PageStateChange.PlanError) { entries = try PageValidation.plan(ranges, largePages: largePages).0 } catch { throw .plan(error) }
        guard !entries.isEmpty else { return PageValidation.Totals() }
        try changePageState(entries, ghcb: ghcb, ghcbAddress: ghcbAddress, protocolVersion: protocolVersion, machine: &machine)
        return try validate(entries, machine: &machine)
    }

    /// Validated private pages made shared for the host (the guest-request pages): validation rescinded
    /// page by page, then the page state changed to shared. The caller then maps them without the C-bit.
    public static func makeShared<M: SEVMachine>(_ range: PhysicalRange, ghcb: GHCB, ghcbAddress: UInt64, protocolVersion: UInt16,
                                                 machine: inout M) throws(Failure) {
        let entries: [PageStateChange.Entry]
        do throws(PageStateChange.PlanError) {
            entries = try PageStateChange.entries(for: range, to: .shared, largePages: false)
        } catch { throw .plan(error) }
        for entry in entries { try rescind(entry, machine: &machine) }
        try changePageState(entries, ghcb: ghcb, ghcbAddress: ghcbAddress, protocolVersion: protocolVersion, machine: &machine)
    }
}

/// Lazy validation's bookkeeping: the RAM still to validate, handed out a 2 MiB chunk at a time. When the
/// page allocator gives out pages, every 2 MiB chunk they touch is validated whole (its part that needs
/// it), so first use pays once per chunk and later allocations in it pay nothing.
public struct LazyValidation: Equatable, Sendable {
    public static let chunk: UInt64 = 2 << 20
    public private(set) var remaining: [PhysicalRange]

    public init(required: [PhysicalRange]) { remaining = UsableMemory.merged(required) }

    public var remainingBytes: UInt64 { remaining.reduce(0) { $0 + $1.length } }

    /// The parts of `range`'s 2 MiB chunks that still need validation, now taken off the list.
    public mutating func take(covering range: PhysicalRange) -> [PhysicalRange] {
        guard range.end > range.start else { return [] }
        let low = range.start & ~(Self.chunk - 1)
        let high = alignUp(range.end, Self.chunk) ?? range.end
        var taken: [PhysicalRange] = []
        var kept: [PhysicalRange] = []
        for piece in remaining {
            let start = max(piece.start, low), end = min(piece.end, high)
            guard start < end else { kept.append(piece); continue }
            taken.append(PhysicalRange(start: start, end: end))
            if piece.start < start { kept.append(PhysicalRange(start: piece.start, end: start)) }
            if end < piece.end { kept.append(PhysicalRange(start: end, end: piece.end)) }
        }
        remaining = kept
        return taken
    }
}

/// Port I/O written into the GHCB directly (SW_EXITCODE IOIO), without the `in`/`out` that would raise
/// a #VC: the console's path inside the #VC handler, where a nested #VC would reuse the handler's stack.
public enum GHCBPortIO {
    public static func write<M: SEVMachine>(port: UInt16, size: Int, value: UInt64, ghcb: GHCB, protocolVersion: UInt16,
                                            machine: inout M) throws(GHCB.ExitError) {
        ghcb.clear(protocolVersion: protocolVersion)
        ghcb.set(.rax, value & (size == 4 ? 0xffff_ffff : (1 << UInt64(8 * size)) - 1))
        ghcb.set(.exitCode, SVMExitCode.ioio.rawValue)
        ghcb.set(.exitInfo1, (try? IOIOExitInfo(port: port, size: size, isIn: false).encoded()) ?? 0)
        ghcb.set(.exitInfo2, 0)
        machine.vmgexit()
        try ghcb.checkResult()
    }

    public static func read<M: SEVMachine>(port: UInt16, size: Int, ghcb: GHCB, protocolVersion: UInt16,
                                           machine: inout M) throws(GHCB.ExitError) -> UInt64 {
        ghcb.clear(protocolVersion: protocolVersion)
        ghcb.set(.rax, 0)
        ghcb.set(.exitCode, SVMExitCode.ioio.rawValue)
        ghcb.set(.exitInfo1, (try? IOIOExitInfo(port: port, size: size, isIn: true).encoded()) ?? 0)
        ghcb.set(.exitInfo2, 0)
        machine.vmgexit()
        try ghcb.checkResult()
        try ghcb.require([.rax])
        return ghcb.get(.rax) & (size == 4 ? 0xffff_ffff : (1 << UInt64(8 * size)) - 1)
    }
}
