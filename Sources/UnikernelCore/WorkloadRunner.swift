/// A privileged operation whose cost under a hypervisor is its VM exit (what SEV-ES and SNP change most).
public enum ExitOperation: Int, CaseIterable, Sendable {
    case cpuid, portIO, msrRead, rdtsc

    public var name: StaticString {
        switch self {
        case .cpuid: "cpuid"
        case .portIO: "pio"
        case .msrRead: "rdmsr"
        case .rdtsc: "rdtsc"
        }
    }
}

/// What a workload needs from where it runs: the unikernel on bare (virtual) metal or a Linux process.
public protocol WorkloadPlatform {
    mutating func write(_ bytes: [UInt8])
    func timestamp() -> UInt64
    var timestampHz: UInt64 { get }
    /// Timestamp of the platform's first instruction, the zero of every `stage` line.
    var bootTimestamp: UInt64 { get }
    /// Page-aligned memory; the unikernel's is mapped already, a Linux process's faults in on first touch.
    mutating func allocate(bytes: Int) -> UnsafeMutableRawPointer?
    mutating func release(_ pointer: UnsafeMutableRawPointer, bytes: Int)
    /// Total timestamp ticks for `iterations` of `operation`; nil where the platform cannot issue it.
    mutating func measure(_ operation: ExitOperation, iterations: Int) -> UInt64?
    /// Reads address 8 (the null page), which must fault.
    mutating func nullDereference() -> UInt64
    /// One SNP attestation report for `reportData`, from the PSP through the guest request: true when one
    /// came back, false when the request failed, nil where the platform has no SNP guest request.
    mutating func requestAttestationReport(reportData: [UInt8]) -> Bool?
    /// How `operation` reaches the hypervisor here: "exit" (an intercept, as without SEV and under plain
    /// SEV), "vc" (SEV-ES/SNP: #VC, the GHCB, VMGEXIT), "vc-cpuid-page" (SNP's CPUID: #VC answered from
    /// the CPUID page, no exit), or "none" where it does not leave the guest.
    func exitPath(_ operation: ExitOperation) -> StaticString
}

extension WorkloadPlatform {
    public mutating func requestAttestationReport(reportData: [UInt8]) -> Bool? { nil }
    public func exitPath(_ operation: ExitOperation) -> StaticString { operation == .rdtsc ? "none" : "exit" }
}

extension WorkloadPlatform {
    public mutating func emit(_ line: ResultLine) {
        var bytes = line.bytes
        bytes.append(0x0a)
        write(bytes)
    }

    /// `cvmuk stage name=<name> tsc=<ticks> us=<since boot>`.
    public mutating func stage(_ name: StaticString) {
        let now = timestamp()
        var line = ResultLine("stage")
        line.field("name", name)
        line.field("tsc", now)
        line.field("us", TSCCalibration.microseconds(ticks: now &- bootTimestamp, hz: timestampHz))
        emit(line)
    }
}

/// Runs the workloads of a command line and prints one `cvmuk result` line per measurement.
public struct WorkloadRunner<Platform: WorkloadPlatform> {
    public var platform: Platform

    public init(platform: Platform) { self.platform = platform }

    public mutating func run(_ options: BootOptions) -> GuestExitStatus {
        platform.stage("workload-start")
        var status = GuestExitStatus.success
        for workload in options.workloads {
            let result = run(workload, options)
            if result != .success { status = result }
        }
        platform.stage("workload-end")
        return status
    }

    mutating func run(_ workload: Workload, _ options: BootOptions) -> GuestExitStatus {
        switch workload {
        case .noop:
            var line = ResultLine("result")
            line.field("workload", "noop")
            platform.emit(line)
            return .success
        case .stream: return stream(options)
        case .chase: return chase(options)
        case .sha256: return sha256(options)
        case .ep: return ep(options)
        case .exits: return exits(options)
        case .touch: return touch(options)
        case .attest: return attest(options)
        case .fault:
            var line = ResultLine("result")
            line.field("workload", "fault")
            line.field("value", platform.nullDereference())
            platform.emit(line)
            return .verificationFailed
        }
    }

    mutating func stream(_ options: BootOptions) -> GuestExitStatus {
        let count = options.streamBytes / 8
        let bytes = count * 8
        guard let a = platform.allocate(bytes: bytes) else { return outOfMemory("stream") }
        guard let b = platform.allocate(bytes: bytes) else { return outOfMemory("stream") }
        guard let c = platform.allocate(bytes: bytes) else { return outOfMemory("stream") }
        let arrays = [a, b, c].map { UnsafeMutableBufferPointer(start: $0.bindMemory(to: Double.self, capacity: count), count: count) }
        let clock = platform
        let result = Stream.run(a: arrays[0], b: arrays[1], c: arrays[2], repetitions: options.streamRepetitions,
                                clock: { clock.timestamp() })
        for kernel in Stream.Kernel.allCases {
            let ticks = max(result.bestTicks[kernel.rawValue], 1)
            let moved = Double(kernel.arraysTouched * bytes)
            var line = ResultLine("result")
            line.field("workload", "stream")
            line.field("kernel", kernel.name)
            line.field("array_bytes", bytes)
            line.field("ticks", ticks)
            line.field("mb_per_s", fixed: moved / 1e6 / seconds(ticks), decimals: 1)
            line.field("valid", result.valid ? 1 : 0)
            platform.emit(line)
        }
        for pointer in [a, b, c] { platform.release(pointer, bytes: bytes) }
        return result.valid ? .success : .verificationFailed
    }

    mutating func chase(_ options: BootOptions) -> GuestExitStatus {
        guard let memory = platform.allocate(bytes: options.chaseBytes) else { return outOfMemory("chase") }
        let buffer = UnsafeMutableRawBufferPointer(start: memory, count: options.chaseBytes)
        let lines = PointerChase.prepare(buffer, seed: 0x5eed)
        // One pass through the cycle warms the TLB and caches as far as they go.
        _ = PointerChase.chase(buffer, steps: lines)
        let start = platform.timestamp()
        let end = PointerChase.chase(buffer, steps: options.chaseSteps)
        let ticks = max(platform.timestamp() &- start, 1)
        let perLoad = Double(ticks) / Double(options.chaseSteps)
        var line = ResultLine("result")
        line.field("workload", "chase")
        line.field("bytes", options.chaseBytes)
        line.field("steps", options.chaseSteps)
        line.field("cycles_per_load", fixed: perLoad, decimals: 2)
        line.field("ns_per_load", fixed: perLoad * 1e9 / Double(max(platform.timestampHz, 1)), decimals: 2)
        line.field("end_line", Int((end &- UInt(bitPattern: memory)) / UInt(PointerChase.lineSize)))
        platform.emit(line)
        platform.release(memory, bytes: options.chaseBytes)
        return .success
    }

    mutating func sha256(_ options: BootOptions) -> GuestExitStatus {
        let size = max(options.sha256Bytes, 1)
        guard let memory = platform.allocate(bytes: size) else { return outOfMemory("sha256") }
        let buffer = UnsafeMutableRawBufferPointer(start: memory, count: options.sha256Bytes)
        SHA256Workload.fill(buffer)
        let start = platform.timestamp()
        let digest = SHA256.hash(UnsafeRawBufferPointer(buffer))
        let ticks = max(platform.timestamp() &- start, 1)
        var line = ResultLine("result")
        line.field("workload", "sha256")
        line.field("bytes", options.sha256Bytes)
        line.field("digest", hex: digest)
        line.field("ticks", ticks)
        line.field("mb_per_s", fixed: Double(options.sha256Bytes) / 1e6 / seconds(ticks), decimals: 2)
        platform.emit(line)
        platform.release(memory, bytes: size)
        return .success
    }

    mutating func ep(_ options: BootOptions) -> GuestExitStatus {
        let count = EmbarrassinglyParallel.scratchCount(log2Pairs: options.epLog2Pairs)
        guard let memory = platform.allocate(bytes: count * 8) else { return outOfMemory("ep") }
        let scratch = UnsafeMutableBufferPointer(start: memory.bindMemory(to: Double.self, capacity: count), count: count)
        let start = platform.timestamp()
        let result = EmbarrassinglyParallel.run(log2Pairs: options.epLog2Pairs, scratch: scratch)
        let ticks = max(platform.timestamp() &- start, 1)
        platform.release(memory, bytes: count * 8)
        guard let result else { return .verificationFailed }
        var line = ResultLine("result")
        line.field("workload", "ep")
        line.field("m", options.epLog2Pairs)
        line.field("sx", fixed: result.sumX, decimals: 9)
        line.field("sy", fixed: result.sumY, decimals: 9)
        line.field("accepted", result.accepted)
        line.field("ticks", ticks)
        line.field("mops", fixed: Double(UInt64(1) << UInt64(options.epLog2Pairs + 1)) / 1e6 / seconds(ticks), decimals: 3)
        platform.emit(line)
        return .success
    }

    mutating func exits(_ options: BootOptions) -> GuestExitStatus {
        for operation in ExitOperation.allCases {
            var line = ResultLine("result")
            line.field("workload", "exits")
            line.field("op", operation.name)
            line.field("iterations", options.exitIterations)
            line.field("via", platform.exitPath(operation))
            if let ticks = platform.measure(operation, iterations: options.exitIterations) {
                line.field("cycles_per_op", fixed: Double(ticks) / Double(options.exitIterations), decimals: 1)
            } else {
                line.field("cycles_per_op", "unsupported")
            }
            platform.emit(line)
        }
        return .success
    }

    mutating func touch(_ options: BootOptions) -> GuestExitStatus {
        let bytes = options.touchPages * 4096
        // The allocation is timed too: under SNP's lazy validation it is where new pages are validated.
        let allocationStart = platform.timestamp()
        guard let memory = platform.allocate(bytes: bytes) else { return outOfMemory("touch") }
        let allocationTicks = platform.timestamp() &- allocationStart
        let pages = memory.bindMemory(to: UInt8.self, capacity: bytes)
        let start = platform.timestamp()
        for page in 0..<options.touchPages { pages[page * 4096] = 1 }
        let ticks = platform.timestamp() &- start
        var line = ResultLine("result")
        line.field("workload", "touch")
        line.field("pages", options.touchPages)
        line.field("cycles_per_page", fixed: Double(ticks) / Double(options.touchPages), decimals: 1)
        line.field("alloc_cycles_per_page", fixed: Double(allocationTicks) / Double(options.touchPages), decimals: 1)
        platform.emit(line)
        platform.release(memory, bytes: bytes)
        return .success
    }

    /// `attest.reps` SNP guest requests (MSG_REPORT_REQ through the extended guest request, as `attest=1`
    /// sends): the fastest and the median in microseconds. Without SEV-SNP: status=unavailable.
    mutating func attest(_ options: BootOptions) -> GuestExitStatus {
        var line = ResultLine("result")
        line.field("workload", "attest")
        var times: [UInt64] = []
        let reportData = [UInt8](repeating: 0x5a, count: 64)
        for _ in 0..<options.attestRepetitions {
            let start = platform.timestamp()
            guard let answered = platform.requestAttestationReport(reportData: reportData) else {
                line.field("status", "unavailable")
                platform.emit(line)
                return .success
            }
            let ticks = platform.timestamp() &- start
            guard answered else {
                line.field("status", "failed")
                line.field("requests", times.count)
                platform.emit(line)
                return .verificationFailed
            }
            times.append(ticks)
        }
        for index in 1..<times.count {
            var position = index
            while position > 0 && times[position - 1] > times[position] {
                times.swapAt(position - 1, position)
                position -= 1
            }
        }
        line.field("status", "ok")
        line.field("requests", times.count)
        line.field("us_min", fixed: seconds(times[0]) * 1e6, decimals: 1)
        line.field("us_median", fixed: seconds(times[times.count / 2]) * 1e6, decimals: 1)
        platform.emit(line)
        return .success
    }

    mutating func outOfMemory(_ workload: StaticString) -> GuestExitStatus {
        var line = ResultLine("error")
        line.field("workload", workload)
        line.field("reason", "out-of-memory")
        platform.emit(line)
        return .outOfMemory
    }

    func seconds(_ ticks: UInt64) -> Double { Double(ticks) / Double(max(platform.timestampHz, 1)) }
}
