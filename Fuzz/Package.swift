// swift-tools-version:6.0
// libFuzzer targets for the parsers of untrusted input (reports, certificates, policies, bench configs, the relying party's requests, DCAP quotes and TDX event logs, kernels and TDVFs measured for a TD). Built by Fuzz/run.sh with `--sanitize=fuzzer`, which
// instruments every module and links libFuzzer's main; see Fuzz/README.md.
import PackageDescription

let package = Package(
    name: "CVMKitFuzz",
    dependencies: [.package(name: "CVMKit", path: ".."), .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0")],
    targets: [
        // What more than one target uses: the embedded Turin chain.
        .target(name: "FuzzSupport", dependencies: [.product(name: "Attestation", package: "CVMKit")]),
        .executableTarget(name: "FuzzReport", dependencies: ["FuzzSupport", .product(name: "Attestation", package: "CVMKit")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(name: "FuzzCertificate", dependencies: [.product(name: "Attestation", package: "CVMKit")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(name: "FuzzPolicy", dependencies: ["FuzzSupport", .product(name: "Attestation", package: "CVMKit")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(name: "FuzzRelyingParty", dependencies: [
            .product(name: "RelyingParty", package: "CVMKit"), .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(name: "FuzzQuote", dependencies: [.product(name: "TDX", package: "CVMKit")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(name: "FuzzKernel", dependencies: [.product(name: "Measurement", package: "CVMKit")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(name: "FuzzBenchConfig", dependencies: [.product(name: "Bench", package: "CVMKit")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ],
    swiftLanguageModes: [.v6]
)
