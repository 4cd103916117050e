import DCAPQuote
import Foundation
import TDXAttestation

/// Feeds arbitrary bytes to the DCAP quote parser and, when it parses, to every verification check
/// (the PEM chain, the QE report, both signatures, the TD policy), and to the CCEL event-log replay and its event listing.
/// Thrown errors are expected; a trap is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzQuote(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let quote = try? DCAPQuote(bytes: bytes) {
        _ = QuoteVerifier.verify(quote, at: Date(timeIntervalSince1970: 1_751_624_191))
    }
    if let log = try? TDXEventLog(bytes: bytes) {
        for event in log.events { _ = (event.typeName, event.summary) }
    }
    return 0
}
