import Certificates
import Foundation

/// The Intel SGX Root CA, the trust anchor of every DCAP quote (SGX and TDX): the DER published by
/// Intel (certificates.trustedservices.intel.com/Intel_SGX_Provisioning_Certification_RootCA.cer), as
/// dcap-qvl and go-tdx-guest embed it. SHA-256 44A0196B…74D3, valid 2018-05-21 to 2049-12-31.
public enum IntelRoot {
    public static let fingerprintSHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

    static let base64 = [
        "MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIwaDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3Qg",
        "Q0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT",
        "AlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoM",
        "EUludGVsIENvcnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYTAlVTMFkwEwYHKoZI",
        "zj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi71OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxF",
        "P2sJBK5zlKOBuzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJMEegRaBDhkFodHRwczovL2Nl",
        "cnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInz",
        "g7SVUr9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYIKoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9C",
        "iSDcNoowLuPRLsWGf/Yi7GSX94BgwTwgAiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=",
    ].joined()

    /// The pinned root, parsed once; nil only if the embedded bytes were damaged (checked by the tests).
    public static let certificate: Certificate? = {
        guard let der = Data(base64Encoded: base64), let certificate = try? Certificate(bytes: Array(der)),
              certificate.fingerprintSHA256.lowercased() == fingerprintSHA256 else { return nil }
        return certificate
    }()

    /// How a chain's trust anchor is named in checks: the pinned Intel root, or another root a caller
    /// chose to trust (`cvm attest verify --root-ca`, a test PKI), told by its fingerprint.
    public static func name(of root: Certificate) -> String {
        root.fingerprintSHA256.lowercased() == fingerprintSHA256
            ? "the Intel SGX Root CA"
            : "the given root CA \(root.subjectCommonName ?? "?") (SHA-256 \(root.fingerprintSHA256.lowercased().prefix(16))…, not Intel's)"
    }
}
