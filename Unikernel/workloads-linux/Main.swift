import CPU
import LinuxSys

/// cvm-workloads: the unikernel's workloads as a static Linux process, same UnikernelCore code.
///
///     cvm-workloads run=all stream.size=8M ...
///
/// Arguments are the unikernel's command-line words; output is the same `cvmuk` lines on stdout; the
/// exit status is the unikernel's guest status (0 success, 1 verification failed, 2 bad arguments,
/// 4 out of memory). The fault workload dies of SIGSEGV, as a null dereference should.
enum Process {
    nonisolated(unsafe) static var heap = Heap()

    static func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = uk_sys_write(1, buffer.baseAddress.map { $0 + offset }, UInt64(buffer.count - offset))
                if written <= 0 { return }
                offset += written
            }
        }
    }

    /// TSC ticks per second against CLOCK_MONOTONIC over 10 ms.
    static func calibrateTSC() -> UInt64 {
        let startNanoseconds = uk_monotonic_ns()
        let startTicks = uk_rdtsc()
        var nanoseconds = startNanoseconds
        while nanoseconds &- startNanoseconds < 10_000_000 { nanoseconds = uk_monotonic_ns() }
        let ticks = uk_rdtsc() &- startTicks
        let elapsed = max(nanoseconds &- startNanoseconds, 1)
        return ticks / elapsed * 1_000_000_000 + ticks % elapsed * 1_000_000_000 / elapsed
    }
}

struct LinuxPlatform: WorkloadPlatform {
    let timestampHz: UInt64
    let bootTimestamp: UInt64

    mutating func write(_ bytes: [UInt8]) { Process.write(bytes) }

    func timestamp() -> UInt64 { uk_rdtsc() }

    mutating func allocate(bytes: Int) -> UnsafeMutableRawPointer? { uk_sys_mmap(UInt64(bytes)) }

    mutating func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) { _ = uk_sys_munmap(pointer, UInt64(bytes)) }

    mutating func measure(_ operation: ExitOperation, iterations: Int) -> UInt64? {
        switch operation {
        case .cpuid:
            let start = uk_rdtsc()
            for _ in 0..<iterations { _ = uk_cpuid(0, 0) }
            return uk_rdtsc() &- start
        case .portIO:
            guard uk_sys_ioperm(0x80, 1, 1) == 0 else { return nil }
            let start = uk_rdtsc()
            for _ in 0..<iterations { uk_outb(0x80, 0) }
            return uk_rdtsc() &- start
        case .msrRead:
            let descriptor = uk_sys_open_read("/dev/cpu/0/msr")
            guard descriptor >= 0 else { return nil }
            defer { _ = uk_sys_close(Int32(descriptor)) }
            guard uk_read_msr_file(Int32(descriptor), 0x1b) == 8 else { return nil }
            let start = uk_rdtsc()
            for _ in 0..<iterations { _ = uk_read_msr_file(Int32(descriptor), 0x1b) }
            return uk_rdtsc() &- start
        case .rdtsc:
            let start = uk_rdtsc()
            for _ in 0..<iterations { _ = uk_rdtsc() }
            return uk_rdtsc() &- start
        }
    }

    mutating func nullDereference() -> UInt64 { uk_load64(8) }

    /// The guest's Linux kernel stands between: cpuid and in/out trap straight to the hypervisor, or under
    /// SEV-ES/SNP to Linux's #VC handler; the MSR read is a system call into the msr driver first.
    func exitPath(_ operation: ExitOperation) -> StaticString {
        switch operation {
        case .rdtsc: "none"
        case .msrRead: "syscall-msr"
        case .cpuid, .portIO: "exit-or-linux-vc"
        }
    }
}

@_cdecl("uk_linux_main")
public func linuxMain(_ stack: UnsafePointer<UInt>, _ entryTimestamp: UInt64) -> Int32 {
    var commandLine: [UInt8] = []
    let argumentCount = Int(stack[0])
    if argumentCount > 1 {
        for index in 2...argumentCount {
            guard let argument = UnsafePointer<UInt8>(bitPattern: stack[index]) else { continue }
            var length = 0
            while argument[length] != 0 { length += 1 }
            commandLine.append(contentsOf: UnsafeBufferPointer(start: argument, count: length))
            commandLine.append(0x20)
        }
    }
    let hz = Process.calibrateTSC()
    var platform = LinuxPlatform(timestampHz: hz, bootTimestamp: entryTimestamp)
    var line = ResultLine("info")
    line.field("boot", "linux")
    line.field("tsc_hz", hz)
    line.field("tsc_source", "clock-monotonic")
    platform.emit(line)
    let options: BootOptions
    do {
        options = try BootOptions.parse(commandLine)
    } catch {
        var failure = ResultLine("error")
        failure.field("reason", "command-line")
        failure.field("token", raw: error.token)
        platform.emit(failure)
        return Int32(GuestExitStatus.badCommandLine.rawValue)
    }
    var runner = WorkloadRunner(platform: platform)
    let status = runner.run(options)
    var exit = ResultLine("exit")
    exit.field("status", Int(status.rawValue))
    exit.field("name", status.name)
    platform.emit(exit)
    return Int32(status.rawValue)
}

/// The heap behind Swift's allocations, in 1 MiB mmap arenas (posix_memalign and free jump here from
/// Boot/runtime.S).
@_cdecl("uk_posix_memalign")
public func posixMemalign(_ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ alignment: Int, _ size: Int) -> CInt {
    let pointer = Process.heap.allocate(bytes: size, alignment: alignment, growth: 1 << 20) { uk_sys_mmap(UInt64($0)) }
    guard let pointer else { return 12 }  // ENOMEM
    result.pointee = pointer
    return 0
}

@_cdecl("uk_free")
public func freeMemory(_ pointer: UnsafeMutableRawPointer?) {
    guard let pointer else { return }
    if !Process.heap.free(pointer) {
        Process.write(Array("cvmuk panic reason=bad-free\n".utf8))
        uk_sys_exit(5)
    }
}

@_cdecl("putchar")
public func putchar(_ character: CInt) -> CInt {
    Process.write([UInt8(truncatingIfNeeded: character)])
    return character
}

@_cdecl("__stack_chk_fail")
public func stackCheckFailed() -> Never {
    Process.write(Array("cvmuk panic reason=stack-smashing\n".utf8))
    uk_sys_exit(5)
    while true {}
}
