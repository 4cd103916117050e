// swift-tools-version:6.0
// libFuzzer targets for the parsers of untrusted input (reports, certificates, policies, bench configs). Built by Fuzz/run.sh with `--sanitize=fuzzer`, which
// instruments every module and links libFuzzer's main; see Fuzz/README.md.
import PackageDescription

let package = Package(
    name: "CVMKitFuzz",
    dependencies: [.package(name: "CVMKit", path: "..")],
    targets: [
        .executableTarget(name: "FuzzReport", dependencies: [.product(name: "Attestation", package: "CVMKit")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(name: "FuzzCertificate", dependencies: [.product(name: "Attestation", package: "CVMKit")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(name: "FuzzPolicy", dependencies: [.product(name: "Attestation", package: "CVMKit")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(name: "FuzzBenchConfig", dependencies: [.product(name: "Bench", package: "CVMKit")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ],
    swiftLanguageModes: [.v6]
)
