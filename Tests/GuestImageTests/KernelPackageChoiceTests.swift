import Foundation
import Testing
@testable import GuestImage

/// The kernel package choice against apt's real answers on Debian 12, Debian 13 and Ubuntu 24.04
/// (Fixtures/apt/README.md says how they were recorded).
struct KernelPackageChoiceTests {
    /// apt as recorded for `distribution`: a name without a recording is one apt does not know.
    struct RecordedApt {
        let distribution: String

        func output(_ verb: String, _ package: String) throws -> String {
            guard let url = Bundle.module.url(forResource: "\(distribution)-\(verb)-\(package)", withExtension: "txt", subdirectory: "Fixtures/apt") else {
                return ""
            }
            return try String(contentsOf: url, encoding: .utf8)
        }

        func choose() throws -> KernelPackageChoice {
            try KernelPackageChoice.choose(policy: { try output("policy", $0) }, depends: { try output("depends", $0) })
        }
    }

    /// Debian 12's default kernel (6.1) has no configfs-tsm: its 6.12 kernel from the same archive is taken.
    @Test func debian12PrefersIts612KernelWhichHasConfigfsTSM() throws {
        let choice = try RecordedApt(distribution: "bookworm").choose()
        #expect(choice == KernelPackageChoice(metapackage: "linux-image-6.12-amd64", image: "linux-image-6.12.118+deb12-amd64", modules: nil))
    }

    @Test func debian12WithoutThe612KernelUsesLinuxImageAmd64WithModulesInTheImagePackage() throws {
        let apt = RecordedApt(distribution: "bookworm")
        let choice = try KernelPackageChoice.choose(policy: { $0 == KernelPackageChoice.configfsTSMMetapackage ? "" : try apt.output("policy", $0) },
                                                    depends: { try apt.output("depends", $0) })
        #expect(choice == KernelPackageChoice(metapackage: "linux-image-amd64", image: "linux-image-6.1.0-57-amd64", modules: nil))
    }

    @Test func configfsTSMCameWithLinux67() {
        #expect(KernelPackageChoice.hasConfigfsTSM("6.12.118-1~deb12u1"))
        #expect(KernelPackageChoice.hasConfigfsTSM("6.7.0-1"))
        #expect(KernelPackageChoice.hasConfigfsTSM("7.0.1"))
        #expect(!KernelPackageChoice.hasConfigfsTSM("6.1.192-3"))
        #expect(!KernelPackageChoice.hasConfigfsTSM("6.6.9"))
        #expect(!KernelPackageChoice.hasConfigfsTSM("garbage"))
    }

    @Test func debian13UsesLinuxImageAmd64() throws {
        let choice = try RecordedApt(distribution: "trixie").choose()
        #expect(choice.metapackage == "linux-image-amd64")
        #expect(choice.image == "linux-image-6.12.117+deb13-amd64")
        #expect(choice.modules == nil)
    }

    @Test func ubuntuHasNoLinuxImageAmd64AndUsesTheVirtualFlavourWithItsModulesPackage() throws {
        let apt = RecordedApt(distribution: "noble")
        #expect(try apt.output("policy", "linux-image-amd64").isEmpty)
        let choice = try apt.choose()
        #expect(choice == KernelPackageChoice(metapackage: "linux-image-virtual", image: "linux-image-6.8.0-151-generic",
                                              modules: "linux-modules-6.8.0-151-generic"))
    }

    @Test func aptWithoutAnyKernelMetapackageIsAClearError() {
        let nothing = RecordedApt(distribution: "none")
        #expect(throws: GuestImageError.self) { try nothing.choose() }
    }

    @Test func aGivenReleaseKeepsItsFlavourAndGetsDebiansWhenItHasNone() throws {
        let noble = RecordedApt(distribution: "noble")
        let ubuntu = try KernelPackageChoice.given(release: "6.8.0-151-generic", policy: { try noble.output("policy", $0) }, depends: { try noble.output("depends", $0) })
        #expect(ubuntu.image == "linux-image-6.8.0-151-generic")
        #expect(ubuntu.modules == "linux-modules-6.8.0-151-generic")
        let bookworm = RecordedApt(distribution: "bookworm")
        let debian = try KernelPackageChoice.given(release: "6.1.0-57", policy: { try bookworm.output("policy", $0) }, depends: { try bookworm.output("depends", $0) })
        #expect(debian.image == "linux-image-6.1.0-57-amd64")
        let trixie = try KernelPackageChoice.given(release: "6.12.117+deb13-amd64", policy: { _ in "" }, depends: { _ in "" })
        #expect(trixie.image == "linux-image-6.12.117+deb13-amd64")
    }
}
