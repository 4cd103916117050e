import Bench

/// Feeds arbitrary text to the `cvm bench --config` reader: the nesting pre-scan, Yams' composer, every
/// key's value parser, and the resolution of guests, modes, workloads and parameters into a plan's
/// settings. Any trap is a bug; thrown errors are the expected answer to bad input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBenchConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let settings = try? BenchSettings.parse(yaml: text) else { return 0 }
    _ = try? settings.resolved(quick: false)
    _ = try? settings.resolved(quick: true)
    return 0
}
