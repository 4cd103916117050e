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
        .library(name: "Attestation", targets: ["Attestation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.3.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
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
        // Reports, certificates, chains, validation policy, KDS, legacy SEV, guest retrieval.
        .target(name: "Attestation", dependencies: [
            "SEVABI", "Measurement",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Yams", package: "Yams"),
        ]),
        // The command tree; the executable only calls into it.
        .target(name: "CVMCommands", dependencies: [
            "SEVABI", "HostOS", "HostProbe", "Measurement", "Attestation", "OCIImage", "GuestImage", "Launch", "Bench", "BenchReport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Docker/OCI image archives and layouts: readers, digest checks, in-memory layer flattening.
        .target(name: "OCIImage", dependencies: ["SEVABI", "HostOS", .product(name: "Crypto", package: "swift-crypto")]),
        // Reproducible initramfs (cpio newc + gzip), guest bundles, the Linux guest builder.
        .target(name: "GuestImage", dependencies: ["SEVABI", "HostOS", "OCIImage", "Measurement", .product(name: "Crypto", package: "swift-crypto")]),
        // LaunchSpec → QEMU argv / libvirt XML, QMP, QEMU supervision, persistent VMs.
        .target(name: "Launch", dependencies: ["SEVABI", "HostOS", "HostProbe"]),
        // Pure logic of the Embedded Swift unikernel (Unikernel/); its kernel build compiles these files too.
        .target(name: "UnikernelCore"),
        // Benchmark results model, statistics and reports (JSON, CSV, Markdown, HTML with SVG charts).
        .target(name: "BenchReport"),
        // The benchmark engine: matrix, guests, runs under QEMU, timelines, run log with resume.
        .target(name: "Bench", dependencies: [
            "BenchReport", "HostOS", "HostProbe", "Measurement", "Launch", "GuestImage",
            .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .executableTarget(name: "cvm", dependencies: ["CVMCommands"]),

        .testTarget(name: "SEVABITests", dependencies: ["SEVABI"]),
        .testTarget(name: "HostOSTests", dependencies: ["HostOS", "CHostAccess"]),
        .testTarget(name: "HostProbeTests", dependencies: ["HostProbe", "HostOS"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MeasurementTests", dependencies: ["Measurement", "Attestation", "GuestImage"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AttestationTests", dependencies: ["Attestation", "Measurement"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CLITests", dependencies: ["CVMCommands"]),
        .testTarget(name: "GuestImageTests", dependencies: ["GuestImage", "OCIImage", "Measurement"], resources: [.copy("Fixtures")]),
        .testTarget(name: "OCIImageTests", dependencies: ["OCIImage"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LaunchTests", dependencies: ["Launch", "HostOS", "HostProbe", "SEVABI", "GuestImage"]),
        .testTarget(name: "UnikernelCoreTests", dependencies: ["UnikernelCore"]),
        .testTarget(name: "BenchReportTests", dependencies: ["BenchReport"]),
        .testTarget(name: "BenchTests", dependencies: ["Bench", "BenchReport", "Launch"]),
        .testTarget(name: "UnikernelBootTests", dependencies: ["UnikernelCore", .product(name: "Crypto", package: "swift-crypto")]),
    ],
    swiftLanguageModes: [.v6]
)
