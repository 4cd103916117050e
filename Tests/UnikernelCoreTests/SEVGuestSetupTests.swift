import Testing
@testable import UnikernelCore

/// The host an SNP guest talks to, simulated at the boundary the kernel crosses: the GHCB MSR (the MSR
/// protocol when its value is a request, the GHCB page when it is the page's address), page state
/// changes as the hypervisor does them (RMPUPDATE: assigned private and not yet validated, or shared),
/// and PVALIDATE against that RMP (size mismatch where the host backs a 2 MiB entry with 4 KiB pages,
/// no update when the state is already the requested one). There is no SNP hardware here.
final class SimulatedSNPHost {
    struct Frame: Equatable {
        var isPrivate = false
        var validated = false
    }

    var msr: UInt64 = 0
    var ghcbPage: UnsafeMutableRawPointer
    var ghcbAddress: UInt64
    var versions: (minimum: UInt64, maximum: UInt64) = (1, 2)
    var cpuid: [UInt32: [UInt32]] = [0x8000_001f: [0x0001_b01f, 0x0000_0173, 0x1ff, 0]]
    /// 4 KiB frames by frame number.
    var rmp: [UInt64: Frame] = [:]
    /// 2 MiB-aligned addresses the host backs with 4 KiB RMP entries (PVALIDATE 2 MiB fails there).
    var smallBacked: Set<UInt64> = []
    var registered: UInt64?
    var log: [String] = []
    /// Entries the host does per page state change exit (it may return with part of a descriptor done).
    var entriesPerExit = Int.max
    var stall = false
    var refusePageStateChange: UInt64 = 0
    var answerCPUIDWith: UInt64?
    var features: UInt64 = 0b11
    /// A shared page state change on a page the guest still has validated: a hole the guest must not open.
    var sharedWhileValidated: [UInt64] = []

    init(ghcbPage: UnsafeMutableRawPointer, ghcbAddress: UInt64) {
        self.ghcbPage = ghcbPage
        self.ghcbAddress = ghcbAddress
    }

    func privatize(_ range: PhysicalRange, validated: Bool) {
        var frame = range.start >> 12
        while frame < range.end >> 12 {
            rmp[frame] = Frame(isPrivate: true, validated: validated)
            frame += 1
        }
    }

    func vmgexit() {
        if msr != 0, msr == ghcbAddress, msr & 0xfff == 0 { return ghcbExit() }
        let info = msr & 0xfff, data = msr >> 12
        switch info {
        case GHCBMSRProtocol.Info.sevInfoRequest.rawValue:
            log.append("sev-info")
            msr = versions.maximum << 48 | versions.minimum << 32 | 51 << 24 | GHCBMSRProtocol.Info.sevInfoResponse.rawValue
        case GHCBMSRProtocol.Info.cpuidRequest.rawValue:
            let register = Int(data >> 18 & 3), leaf = UInt32(msr >> 32)
            log.append("cpuid \(leaf) \(register)")
            msr = UInt64(cpuid[leaf]?[register] ?? 0) << 32 | (answerCPUIDWith ?? GHCBMSRProtocol.Info.cpuidResponse.rawValue)
        case GHCBMSRProtocol.Info.pageStateChangeRequest.rawValue:
            let frame = data & 0xff_ffff_ffff, operation = data >> 40 & 0xf
            log.append("psc-msr \(frame) \(operation)")
            if operation == PageStateChange.Operation.shared.rawValue {
                if rmp[frame]?.validated == true { sharedWhileValidated.append(frame) }
                rmp[frame] = Frame()
            } else {
                rmp[frame] = Frame(isPrivate: true)
            }
            msr = GHCBMSRProtocol.Info.pageStateChangeResponse.rawValue
        case GHCBMSRProtocol.Info.registerGHCBRequest.rawValue:
            log.append("register \(data)")
            registered = data << 12
            msr = data << 12 | GHCBMSRProtocol.Info.registerGHCBResponse.rawValue
        case GHCBMSRProtocol.Info.hypervisorFeaturesRequest.rawValue:
            log.append("features")
            msr = features << 12 | GHCBMSRProtocol.Info.hypervisorFeaturesResponse.rawValue
        case GHCBMSRProtocol.Info.terminateRequest.rawValue:
            log.append("terminate")
        default:
            log.append("unknown \(info)")
        }
    }

    func ghcbExit() {
        let ghcb = GHCB(page: ghcbPage)
        let code = ghcb.get(.exitCode)
        log.append("ghcb \(code)")
        guard code == SVMExitCode.pageStateChange.rawValue else {
            ghcb.set(.exitInfo1, 0)
            return
        }
        #expect(ghcb.isValid(.scratch) && ghcb.get(.scratch) == ghcbAddress + UInt64(GHCB.sharedBufferOffset))
        if refusePageStateChange != 0 {
            ghcb.set(.exitInfo1, 0)
            ghcb.set(.exitInfo2, refusePageStateChange)
            return
        }
        let buffer = ghcb.sharedBuffer
        var (current, end) = PageStateChange.progress(in: buffer)
        var done = 0
        while !stall, current <= end, done < entriesPerExit {
            let raw = buffer.load(fromByteOffset: PageStateChange.headerSize + Int(current) * PageStateChange.entrySize, as: UInt64.self)
            let entry = PageStateChange.decode(raw)!
            let range = PhysicalRange(start: entry.address, end: entry.address + entry.byteCount)
            if entry.operation == .shared {
                var frame = range.start >> 12
                while frame < range.end >> 12 {
                    if rmp[frame]?.validated == true { sharedWhileValidated.append(frame) }
                    rmp[frame] = Frame()
                    frame += 1
                }
            } else {
                privatize(range, validated: false)
            }
            current += 1
            done += 1
        }
        buffer.storeBytes(of: current, toByteOffset: 0, as: UInt16.self)
        ghcb.set(.exitInfo1, 0)
        ghcb.set(.exitInfo2, 0)
    }

    func pvalidate(address: UInt64, largePage: Bool, validate: Bool) -> PValidateResult {
        log.append("pvalidate \(address) \(largePage ? "2m" : "4k") \(validate ? 1 : 0)")
        let frames = largePage ? 512 : 1
        if largePage && (address % (2 << 20) != 0) { return .failed(1) }
        if largePage && smallBacked.contains(address) { return .failed(PValidateResult.sizeMismatch) }
        let first = address >> 12
        for frame in first..<first + UInt64(frames) where rmp[frame]?.isPrivate != true { return .failed(0x10) }
        if rmp[first]?.validated == validate { return .unchanged }
        for frame in first..<first + UInt64(frames) { rmp[frame]?.validated = validate }
        return .success
    }
}

struct HostMachine: SEVMachine {
    let host: SimulatedSNPHost
    func readGHCBMSR() -> UInt64 { host.msr }
    func writeGHCBMSR(_ value: UInt64) { host.msr = value }
    func vmgexit() { host.vmgexit() }
    func pvalidate(address: UInt64, largePage: Bool, validate: Bool) -> PValidateResult {
        host.pvalidate(address: address, largePage: largePage, validate: validate)
    }
}

@Suite struct SEVGuestSetupTests {
    static let ghcbAddress: UInt64 = 0x13_8000

    final class Fixture {
        let page = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        let host: SimulatedSNPHost
        var machine: HostMachine
        var ghcb: GHCB { GHCB(page: page) }

        init() {
            page.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
            host = SimulatedSNPHost(ghcbPage: page, ghcbAddress: SEVGuestSetupTests.ghcbAddress)
            // As after SEV.setUp: the GHCB MSR holds the registered page's address.
            host.msr = SEVGuestSetupTests.ghcbAddress
            machine = HostMachine(host: host)
        }

        deinit { page.deallocate() }
    }

    @Test func theProtocolVersionIsTheHighestBothSidesSpeak() throws {
        let fixture = Fixture()
        #expect(try SEVGuestSetup.negotiate(machine: &fixture.machine) == 2)
        fixture.host.versions = (1, 1)
        #expect(try SEVGuestSetup.negotiate(machine: &fixture.machine) == 1)
        fixture.host.versions = (3, 5)
        #expect(throws: SEVGuestSetup.Failure.noCommonVersion(minimum: 3, maximum: 5)) {
            try SEVGuestSetup.negotiate(machine: &fixture.machine)
        }
    }

    @Test func hypervisorFeaturesComeFromTheMSRProtocol() throws {
        let fixture = Fixture()
        let features = try SEVGuestSetup.hypervisorFeatures(machine: &fixture.machine)
        #expect(features.contains(.snp) && features.contains(.snpAPCreation) && !features.contains(.snpMultiVMPL))
        fixture.host.features = 0
        #expect(try !SEVGuestSetup.hypervisorFeatures(machine: &fixture.machine).contains(.snp))
    }

    @Test func cpuidOverTheMSRProtocolAsksOneRegisterAtATimeAndRestoresTheMSR() throws {
        let fixture = Fixture()
        fixture.host.msr = Self.ghcbAddress
        let registers = try SEVGuestSetup.cpuid(0x8000_001f, machine: &fixture.machine)
        #expect(registers == SNPCPUIDTable.Registers(eax: 0x0001_b01f, ebx: 0x173, ecx: 0x1ff, edx: 0))
        #expect(fixture.host.log == (0...3).map { "cpuid \(0x8000_001f as UInt32) \($0)" })
        #expect(fixture.host.msr == Self.ghcbAddress, "a registered GHCB address survives the MSR protocol")

        fixture.host.answerCPUIDWith = GHCBMSRProtocol.Info.sevInfoResponse.rawValue
        #expect(throws: SEVGuestSetup.Failure.msrProtocol(.unexpectedInfo(expected: 0x005, found: 0x001))) {
            try SEVGuestSetup.cpuid(1, machine: &fixture.machine)
        }
    }

    @Test func underSNPTheGHCBIsRescindedMadeSharedRemappedRegisteredThenSet() throws {
        let fixture = Fixture()
        fixture.host.privatize(PhysicalRange(start: Self.ghcbAddress, end: Self.ghcbAddress + 4096), validated: true)
        try SEVGuestSetup.shareGHCB(at: Self.ghcbAddress, snp: true, machine: &fixture.machine) { address in
            fixture.host.log.append("remap \(address)")
        }
        let frame = Self.ghcbAddress >> 12
        #expect(fixture.host.log == ["pvalidate \(Self.ghcbAddress) 4k 0", "psc-msr \(frame) 2", "remap \(Self.ghcbAddress)", "register \(frame)"])
        #expect(fixture.host.sharedWhileValidated.isEmpty)
        #expect(fixture.host.rmp[frame] == SimulatedSNPHost.Frame(), "the GHCB page is shared and not validated")
        #expect(fixture.host.registered == Self.ghcbAddress && fixture.host.msr == Self.ghcbAddress)
    }

    @Test func underSEVESTheGHCBIsOnlyRemappedAndSet() throws {
        let fixture = Fixture()
        try SEVGuestSetup.shareGHCB(at: Self.ghcbAddress, snp: false, machine: &fixture.machine) { address in
            fixture.host.log.append("remap \(address)")
        }
        #expect(fixture.host.log == ["remap \(Self.ghcbAddress)"])
        #expect(fixture.host.msr == Self.ghcbAddress && fixture.host.registered == nil)
    }

    @Test func aRefusedRegistrationOrPageStateChangeIsAFailure() {
        let fixture = Fixture()
        fixture.host.privatize(PhysicalRange(start: Self.ghcbAddress, end: Self.ghcbAddress + 4096), validated: false)
        // The page was never validated: rescinding it changes nothing, which the guest must not ignore.
        #expect(throws: SEVGuestSetup.Failure.pvalidate(address: Self.ghcbAddress, largePage: false, result: .unchanged)) {
            try SEVGuestSetup.shareGHCB(at: Self.ghcbAddress, snp: true, machine: &fixture.machine) { _ in }
        }
    }

    /// Low memory in 4 KiB pages (more than one descriptor's 253 entries), 2 MiB pages above, one 2 MiB
    /// range the host backs with 4 KiB pages, and a host that does 100 entries per exit.
    @Test func privateMemoryIsChangedInBatchesThenValidatedWithTheSizeFallback() throws {
        let fixture = Fixture()
        fixture.host.entriesPerExit = 100
        fixture.host.smallBacked = [6 << 20]
        let ranges = [PhysicalRange(start: 0, end: 0x9_f000), PhysicalRange(start: 1 << 20, end: 2 << 20), PhysicalRange(start: 4 << 20, end: 12 << 20)]
        let totals = try SEVGuestSetup.makePrivate(ranges, ghcb: fixture.ghcb, ghcbAddress: Self.ghcbAddress,
                                                   protocolVersion: 2, machine: &fixture.machine)
        #expect(totals.largePages == 3, "4, 8 and 10 MiB; 6 MiB falls back")
        #expect(totals.smallPages == 0x9f + 256 + 512)
        #expect(totals.bytes == 0x9_f000 + (1 << 20) + (8 << 20))
        for range in ranges {
            for frame in range.start >> 12..<range.end >> 12 {
                #expect(fixture.host.rmp[frame] == SimulatedSNPHost.Frame(isPrivate: true, validated: true), "frame \(frame)")
            }
        }
        let exits = fixture.host.log.filter { $0.hasPrefix("ghcb") }.count
        // 159 + 256 + 4 entries: descriptors of 253 and 166 entries, 100 per exit: 3 + 2 exits.
        #expect(exits == 5)
        #expect(fixture.host.log.firstIndex { $0.hasPrefix("pvalidate") }! > fixture.host.log.lastIndex { $0.hasPrefix("ghcb") }!,
                "nothing is validated before the host assigned it")
    }

    @Test func aStalledOrRefusedPageStateChangeStops() {
        let fixture = Fixture()
        fixture.host.stall = true
        let range = [PhysicalRange(start: 4 << 20, end: 6 << 20)]
        #expect(throws: SEVGuestSetup.Failure.pageStateChangeStalled(current: 0, end: 0)) {
            try SEVGuestSetup.makePrivate(range, ghcb: fixture.ghcb, ghcbAddress: Self.ghcbAddress, protocolVersion: 2, machine: &fixture.machine)
        }
        fixture.host.stall = false
        fixture.host.refusePageStateChange = 0x1_0000_0000
        #expect(throws: SEVGuestSetup.Failure.pageStateChange(0x1_0000_0000)) {
            try SEVGuestSetup.makePrivate(range, ghcb: fixture.ghcb, ghcbAddress: Self.ghcbAddress, protocolVersion: 2, machine: &fixture.machine)
        }
        #expect(SEVGuestSetup.Failure.pageStateChange(1).reason == .pageStateChange)
    }

    @Test func validatingAPageTwiceIsRefused() throws {
        let fixture = Fixture()
        let range = [PhysicalRange(start: 4 << 20, end: (4 << 20) + 8192)]
        _ = try SEVGuestSetup.makePrivate(range, ghcb: fixture.ghcb, ghcbAddress: Self.ghcbAddress, protocolVersion: 2, machine: &fixture.machine)
        // A host that swaps a page back to private-unvalidated is caught by the validate; one that leaves it
        // validated makes PVALIDATE report no update, which is refused as well.
        let entries = try PageValidation.plan(range).0
        #expect(throws: SEVGuestSetup.Failure.pvalidate(address: 4 << 20, largePage: false, result: .unchanged)) {
            try SEVGuestSetup.validate(entries, machine: &fixture.machine)
        }
        #expect(SEVGuestSetup.Failure.pvalidate(address: 0, largePage: false, result: .unchanged).reason == .pageValidation)
    }

    @Test func sharedPagesAreRescindedBeforeTheHostGetsThem() throws {
        let fixture = Fixture()
        let range = PhysicalRange(start: 0x13_9000, end: 0x14_0000)
        fixture.host.privatize(range, validated: true)
        try SEVGuestSetup.makeShared(range, ghcb: fixture.ghcb, ghcbAddress: Self.ghcbAddress, protocolVersion: 2, machine: &fixture.machine)
        #expect(fixture.host.sharedWhileValidated.isEmpty)
        for frame in range.start >> 12..<range.end >> 12 { #expect(fixture.host.rmp[frame] == SimulatedSNPHost.Frame()) }
        #expect(fixture.host.log.filter { $0.hasPrefix("pvalidate") }.count == 7)
    }

    @Test func lazyValidationHandsOutWholeChunksOnce() {
        let required = [PhysicalRange(start: 0, end: 0x9_f000), PhysicalRange(start: 0x12_0000, end: 0x1000_0000)]
        var lazy = LazyValidation(required: required)
        let total = lazy.remainingBytes
        #expect(total == 0x9_f000 + 0x1000_0000 - 0x12_0000)
        #expect(lazy.take(covering: PhysicalRange(start: 0x30_0000, end: 0x30_1000)) == [PhysicalRange(start: 0x20_0000, end: 0x40_0000)])
        #expect(lazy.take(covering: PhysicalRange(start: 0x3f_f000, end: 0x40_0000)).isEmpty, "the chunk is done")
        #expect(lazy.take(covering: PhysicalRange(start: 0x1000, end: 0x2000)) == [PhysicalRange(start: 0, end: 0x9_f000),
                                                                                     PhysicalRange(start: 0x12_0000, end: 0x20_0000)])
        let spanning = lazy.take(covering: PhysicalRange(start: 0x5f_f000, end: 0x60_1000))
        #expect(spanning == [PhysicalRange(start: 0x40_0000, end: 0x80_0000)])
        var taken: UInt64 = 0x20_0000 + 0x9_f000 + 0xe_0000 + 0x40_0000
        #expect(lazy.remainingBytes == total - taken)
        let rest = lazy.take(covering: PhysicalRange(start: 0, end: 0x1000_0000))
        taken += rest.reduce(0) { $0 + $1.length }
        #expect(taken == total && lazy.remaining.isEmpty)
        #expect(lazy.take(covering: PhysicalRange(start: 0x1000, end: 0x1000)).isEmpty)
    }

    @Test func portIOThroughTheGHCBWithoutAnInstruction() throws {
        let page = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { page.deallocate() }
        let ghcb = GHCB(page: page)
        let hypervisor = SimulatedHypervisor(ghcb: ghcb)
        hypervisor.ports[0x3fd] = 0x60
        struct Exit: SEVMachine {
            let hypervisor: SimulatedHypervisor
            func readGHCBMSR() -> UInt64 { 0 }
            func writeGHCBMSR(_ value: UInt64) {}
            func vmgexit() { hypervisor.vmgexit() }
            func pvalidate(address: UInt64, largePage: Bool, validate: Bool) -> PValidateResult { .failed(1) }
        }
        var machine = Exit(hypervisor: hypervisor)
        try GHCBPortIO.write(port: 0x3f8, size: 1, value: 0x1_41, ghcb: ghcb, protocolVersion: 2, machine: &machine)
        #expect(hypervisor.portWrites.count == 1)
        #expect(hypervisor.portWrites.first.map { [UInt64($0.port), UInt64($0.size), $0.value] } == [0x3f8, 1, 0x41])
        #expect(try GHCBPortIO.read(port: 0x3fd, size: 1, ghcb: ghcb, protocolVersion: 2, machine: &machine) == 0x60)
        #expect(hypervisor.exits == [SVMExitCode.ioio.rawValue, SVMExitCode.ioio.rawValue])
        hypervisor.failNext = (2, 0x1)
        #expect(throws: GHCB.ExitError.invalidInput(1)) {
            try GHCBPortIO.write(port: 0x3f8, size: 1, value: 0, ghcb: ghcb, protocolVersion: 2, machine: &machine)
        }
    }

    @Test func sharedPagesAreCutOutOfPrivateMemoryInTheIdentityMap() {
        let regions = [MemoryRegion(base: 0, length: 0x9_fc00, kind: .usable), MemoryRegion(base: 0x10_0000, length: 0xff0_0000, kind: .usable)]
        let shared = [PhysicalRange(start: 0x13_8000, end: 0x14_0000)]
        let pieces = EncryptionPlan.pieces(regions: regions, privateRanges: [], sharedRanges: shared, start: 4096, top: 4 << 30)
        #expect(pieces.map(\.range.start) == [0x1000, 0xa_0000, 0x10_0000, 0x13_8000, 0x14_0000, 0x1000_0000])
        #expect(pieces.map(\.encrypted) == [true, false, true, false, true, false])
        #expect(EncryptionPlan.pieces(regions: regions, privateRanges: [], sharedRanges: [], start: 4096, top: 4 << 30)
            == EncryptionPlan.pieces(regions: regions, privateRanges: [], start: 4096, top: 4 << 30))
        // A shared range over MMIO changes nothing: it is shared already.
        let hole = EncryptionPlan.pieces(regions: regions, privateRanges: [], sharedRanges: [PhysicalRange(start: 0xa_0000, end: 0xb_0000)], start: 4096, top: 4 << 30)
        #expect(hole.count == 4)
    }

    @Test func theConfidentialComputingBlobIsReadAndChecked() throws {
        var bytes = Bytes()
        bytes.u32(0x4544_4d41); bytes.u32(1); bytes.u64(0x80_0000); bytes.u32(4096); bytes.u32(0)
        bytes.u64(0x80_1000); bytes.u32(4096); bytes.u32(0)
        let blob = try bytes.data.withUnsafeBytes { try ConfidentialComputingBlob(bytes: $0) }
        #expect(blob.version == 1 && blob.secretsAddress == 0x80_0000 && blob.cpuidAddress == 0x80_1000 && blob.cpuidLength == 4096)
        #expect(throws: ConfidentialComputingBlob.ParseError.truncated) { try bytes.data.prefix(39).withUnsafeBytes { try ConfidentialComputingBlob(bytes: $0) } }
        var wrong = bytes.data
        wrong[0] = 0
        #expect(throws: ConfidentialComputingBlob.ParseError.badMagic(0x4544_4d00)) { try wrong.withUnsafeBytes { try ConfidentialComputingBlob(bytes: $0) } }
        var unaligned = bytes.data
        unaligned[24] = 0x10
        #expect(throws: ConfidentialComputingBlob.ParseError.badPage(address: 0x80_1010, length: 4096)) {
            try unaligned.withUnsafeBytes { try ConfidentialComputingBlob(bytes: $0) }
        }
    }

    @Test func pvalidateResultsFollowRAXAndTheCarryFlag() {
        #expect(PValidateResult(rax: 0, carry: false) == .success)
        #expect(PValidateResult(rax: 0, carry: true) == .unchanged)
        #expect(PValidateResult(rax: 6, carry: false) == .failed(PValidateResult.sizeMismatch))
    }
}
