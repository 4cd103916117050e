/// What the unikernel binds into the REPORT_DATA of an attestation report it asks for with
/// `attest=1 attest.nonce=HEX`: bytes 0..<32 are the SHA-256 of the kernel command line exactly as the
/// kernel received it (fw_cfg `opt/org.cvmkit/cmdline` on the firmware boot), bytes 32..<64 the
/// verifier's nonce, zero-padded. The launch measurement covers firmware.fd, not the command line (host
/// input); with its digest in the signed report a verifier knows which workloads and parameters the
/// measured kernel was given, and the nonce shows the report is fresh.
public enum AttestationBinding {
    public static let nonceSize = 32
    public static let reportDataSize = 64

    public static func reportData(nonce: [UInt8], commandLine: [UInt8]) -> [UInt8] {
        var data = commandLine.withUnsafeBytes { SHA256.hash($0) }
        data += nonce.prefix(nonceSize)
        data += [UInt8](repeating: 0, count: reportDataSize - data.count)
        return data
    }
}
