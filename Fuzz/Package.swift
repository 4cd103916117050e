// swift-tools-version:6.0
// libFuzzer targets for the Attestation parsers. Built by Fuzz/run.sh with `--sanitize=fuzzer`, which
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
    ],
    swiftLanguageModes: [.v6]
)
