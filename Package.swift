// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "CVMKit",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cvm", targets: ["cvm"]),
        .library(name: "SEVABI", targets: ["SEVABI"]),
        .library(name: "HostProbe", targets: ["HostProbe"]),
        .library(name: "Measurement", targets: ["Measurement"]),
        // The attestation modules, for the fuzz package (Fuzz/) and other verifiers.
        .library(name: "Attestation", targets: [
            "SNPReport", "AttestationPolicy", "SignatureVerification", "Certificates", "KDS", "GuestAttestation", "Attestation",
        ]),
        // For the fuzz package (Fuzz/), which feeds bench configs to BenchSettings.
        .library(name: "Bench", targets: ["Bench"]),
        // Intel DCAP quotes and their verification (and the fuzz package's quote target).
        .library(name: "TDX", targets: ["DCAPQuote", "TDXAttestation"]),
        // For the fuzz package (Fuzz/), which feeds requests to the relying party.
        .library(name: "RelyingParty", targets: ["RelyingParty"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.3.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.14.0"),
    ],
    targets: [
        // CPUID, MSR, ioctl and KVM access, fork+exec with PR_SET_PDEATHSIG, the signal-to-pipe handler:
        // the only C in the package, kept tiny.
        .target(name: "CHostAccess"),
        // The operating system under cvm: every child process (ChildProcess, ProcessRunner), the one
        // owner of SIGINT/SIGTERM (SignalOwner), the host's files (HostFileSystem).
        .target(name: "HostOS", dependencies: ["CHostAccess"]),
        // Spec structures: policies, TCB versions, GUIDs, report layout. Pure, no I/O.
        .target(name: "SEVABI"),
        // Host readiness: CPUID, MSRs, sysfs, /dev/sev, KVM, QEMU/libvirt/OVMF discovery.
        .target(name: "HostProbe", dependencies: [
            "SEVABI", "CHostAccess", "HostOS", "Measurement",
        ]),
        // OVMF metadata, hashes table, VMSA, SEV/SEV-ES/SNP launch digests, ID blocks.
        .target(name: "Measurement", dependencies: [
            "SEVABI",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The SNP attestation report ABI: ATTESTATION_REPORT, TCB_VERSION, the product, the printable summary.
        .target(name: "SNPReport", dependencies: ["SEVABI"]),
        // What a report must look like (ValidationPolicy, typed expected values) and the checks that judge it.
        .target(name: "AttestationPolicy", dependencies: [
            "SEVABI", "SNPReport", .product(name: "Yams", package: "Yams"),
        ]),
        // Signature arithmetic: RSASSA-PSS and ECDSA through swift-crypto, the fixed-key P-384 comb verifier.
        .target(name: "SignatureVerification", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        // X.509 on swift-asn1, the pinned AMD roots, VCEK/VLEK extensions, CRLs, the host certificate table.
        .target(name: "Certificates", dependencies: [
            "SEVABI", "SNPReport", "SignatureVerification",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        // HTTP GET with an on-disk cache, retries with backoff honouring Retry-After, and offline mode.
        .target(name: "CachedFetch"),
        // AMD Key Distribution Service: paths, and the client on CachedFetch.
        .target(name: "KDS", dependencies: ["SEVABI", "SNPReport", "Certificates", "CachedFetch"]),
        // Inside the guest: reports from configfs-tsm or the /dev/sev-guest ioctls.
        .target(name: "GuestAttestation", dependencies: ["SEVABI"]),
        // Verifying evidence end to end: the chain once, then report signature, binding and policy → Verdict;
        // legacy SEV LAUNCH_MEASURE.
        .target(name: "Attestation", dependencies: [
            "SEVABI", "SNPReport", "AttestationPolicy", "SignatureVerification", "Certificates", "Measurement",
        ]),
        // Intel DCAP quotes (SGX v3, TDX v4 and v5): the format, pure, bounds-checked.
        .target(name: "DCAPQuote", dependencies: ["SEVABI"]),
        // Verifying DCAP quotes: the PCK chain to the pinned Intel SGX Root CA, the QE report, the quote
        // signature, the TD report policy.
        .target(name: "TDXAttestation", dependencies: [
            "DCAPQuote", "Certificates", "AttestationPolicy", "SEVABI", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        // Intel Provisioning Certification Service (or a PCCS): a quote's collateral on CachedFetch,
        // assembled into the layout TDXAttestation reads.
        .target(name: "PCS", dependencies: ["CachedFetch", "Certificates", "DCAPQuote", "SEVABI", "TDXAttestation"]),
        // The command tree; the executable only calls into it.
        .target(name: "CVMCommands", dependencies: [
            "SEVABI", "HostOS", "HostProbe", "Measurement", "SNPReport", "AttestationPolicy", "Certificates", "KDS",
            "GuestAttestation", "Attestation", "OCIImage", "GuestImage", "Launch", "Bench", "BenchReport",
            "UnikernelCore", "RelyingParty", "RelyingPartyServer", "DCAPQuote", "TDXAttestation", "CachedFetch", "PCS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Docker/OCI image archives and layouts: readers, digest checks, in-memory layer flattening.
        .target(name: "OCIImage", dependencies: ["SEVABI", "HostOS", .product(name: "Crypto", package: "swift-crypto")]),
        // Reproducible initramfs (cpio newc + gzip), guest bundles, the Linux guest builder.
        .target(name: "GuestImage", dependencies: ["SEVABI", "HostOS", "OCIImage", "Measurement", .product(name: "Crypto", package: "swift-crypto")]),
        // LaunchSpec → QEMU argv / libvirt XML, QMP, QEMU supervision, persistent VMs.
        .target(name: "Launch", dependencies: ["SEVABI", "HostOS", "HostProbe", "GuestImage"]),
        // Pure logic of the Embedded Swift unikernel (Unikernel/); its kernel build compiles these files too.
        .target(name: "UnikernelCore"),
        // Benchmark results model, statistics and reports (JSON, CSV, Markdown, HTML with SVG charts).
        .target(name: "BenchReport"),
        // The benchmark engine: matrix, guests, runs under QEMU, timelines, run log with resume.
        .target(name: "Bench", dependencies: [
            "BenchReport", "SEVABI", "HostOS", "HostProbe", "Measurement", "Launch", "GuestImage",
            "SNPReport", "AttestationPolicy", "Certificates", "Attestation",
            .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The relying party of attested guests: sessions, single-use nonces, evidence → decision, secrets
        // sealed to the guest's key. No I/O beyond what it is handed; the HTTP layer is RelyingPartyServer.
        .target(name: "RelyingParty", dependencies: [
            "SEVABI", "SNPReport", "AttestationPolicy", "Certificates", "KDS", "Attestation", "GuestImage", "Measurement",
            "DCAPQuote", "TDXAttestation",
            .product(name: "Crypto", package: "swift-crypto"), .product(name: "Yams", package: "Yams"),
        ]),
        // `cvm attest serve`: the relying party over HTTP/1.1 (Hummingbird on SwiftNIO).
        .target(name: "RelyingPartyServer", dependencies: [
            "RelyingParty", .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"), .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "cvm", dependencies: ["CVMCommands"]),
        // bench/relying-party/run.sh's harness: the relying party's sessions per second (not part of cvm).
        .executableTarget(name: "RelyingPartyBench", dependencies: [
            "RelyingParty", "RelyingPartyServer", "Certificates", "SNPReport", .product(name: "Crypto", package: "swift-crypto"),
        ], path: "bench/relying-party/Sources"),

        // Test support: the loopback HTTP stand-in for KDS and PCS (Tests/TestServers/kds_server.py).
        .target(name: "TestServers", path: "Tests/TestServers", resources: [.copy("kds_server.py")]),
        .testTarget(name: "SEVABITests", dependencies: ["SEVABI"]),
        .testTarget(name: "HostOSTests", dependencies: ["HostOS", "CHostAccess"]),
        .testTarget(name: "HostProbeTests", dependencies: ["HostProbe", "HostOS", "SEVABI"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MeasurementTests", dependencies: ["Measurement", "SEVABI", "GuestImage", .product(name: "Crypto", package: "swift-crypto")], resources: [.copy("Fixtures")]),
        .testTarget(name: "AttestationTests", dependencies: [
            "SNPReport", "AttestationPolicy", "SignatureVerification", "Certificates", "KDS", "GuestAttestation", "Attestation",
            "SEVABI", "UnikernelCore", "CachedFetch", "TestServers", .product(name: "Crypto", package: "swift-crypto"),
        ], resources: [.copy("Fixtures")]),
        .testTarget(name: "CLITests", dependencies: [
            "CVMCommands", "BenchReport", "Certificates", "GuestImage", "HostProbe", "KDS", "Launch", "SEVABI", "SNPReport",
            "CachedFetch", "PCS", "DCAPQuote", "TDXAttestation", "TestServers",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "GuestImageTests", dependencies: ["GuestImage", "OCIImage", "Measurement", .product(name: "Crypto", package: "swift-crypto")], resources: [.copy("Fixtures")]),
        .testTarget(name: "OCIImageTests", dependencies: ["OCIImage"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LaunchTests", dependencies: ["Launch", "HostOS", "HostProbe", "SEVABI", "GuestImage", "Measurement"]),
        .testTarget(name: "UnikernelCoreTests", dependencies: ["UnikernelCore"]),
        .testTarget(name: "BenchReportTests", dependencies: ["BenchReport"]),
        .testTarget(name: "BenchTests", dependencies: ["Bench", "BenchReport", "GuestImage", "HostOS", "HostProbe", "Launch", "SEVABI"]),
        .testTarget(name: "RelyingPartyTests", dependencies: [
            "RelyingParty", "RelyingPartyServer", "SNPReport", "Certificates", "SEVABI", "GuestImage", "KDS", "TDXAttestation",
            .product(name: "Crypto", package: "swift-crypto"),
        ], resources: [.copy("Fixtures")]),
        .testTarget(name: "TDXTests", dependencies: [
            "DCAPQuote", "TDXAttestation", "AttestationPolicy", "Certificates", "Measurement", .product(name: "Crypto", package: "swift-crypto"),
        ], resources: [.copy("Fixtures")]),
        .testTarget(name: "UnikernelBootTests", dependencies: ["UnikernelCore", .product(name: "Crypto", package: "swift-crypto")]),
    ],
    swiftLanguageModes: [.v6]
)
