import Measurement

/// Feeds arbitrary bytes as a kernel to what reads kernels for a TD's measurement: the Authenticode
/// digest, QEMU's setup-header edits and the whole RTMR1/RTMR2 prediction (with and without an initrd,
/// small and large memory), and as a firmware image to the TDVF metadata and MRTD.
/// Thrown errors are expected; a trap is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKernel(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? Authenticode.sha384(bytes)
    _ = TDRuntimeMeasurement.linuxVersion(ofBzImage: bytes)
    for (memory, initrd) in [(UInt64(512) << 20, [UInt8]?.none), (UInt64(8) << 30, [UInt8](repeating: 1, count: 3000))] {
        _ = try? QEMUKernelPatch.patched(bytes, commandLine: "console=hvc0 vga=0x317", initrdSize: initrd?.count, memoryBytes: memory)
        _ = try? TDRuntimeMeasurement.events(.init(kernel: bytes, initrd: initrd, commandLine: "quiet", memoryBytes: memory))
    }
    _ = try? TDMeasurement.mrtd(firmware: bytes)
    return 0
}
