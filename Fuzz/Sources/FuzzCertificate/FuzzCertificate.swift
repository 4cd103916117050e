import Certificates

/// Feeds arbitrary bytes to the DER/PEM certificate parser, the VCEK extension reader, the CRL parser
/// and the host certificate table parser, and checks signatures against a pinned ARK.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCertificate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let certificate = try? Certificate(bytes: bytes) {
        _ = try? VCEKExtensions(certificate)
        _ = certificate.fingerprintSHA256
        if let ark = try? AMDRoots.roots(for: .milan).ark {
            _ = certificate.isSigned(by: ark)
        }
    }
    _ = try? Certificate.parseBundle(bytes)
    _ = try? RevocationList(bytes: bytes)
    if let table = try? CertificateTable(bytes: bytes) {
        _ = try? table.certificates()
    }
    return 0
}
