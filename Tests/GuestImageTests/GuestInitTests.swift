import Foundation
import Testing
@testable import GuestImage

@Suite struct GuestInitTests {
    @Test func configEscapesEveryByteTheInitUnescapes() {
        let config = InitConfig(arguments: ["/bin/echo", "two words", "back\\slash", "new\nline", "\u{1}"],
                                environment: ["GREETING=hé llo"], workingDirectory: "/app", user: "1000:1000", console: "ttyS1")
        #expect(config.rendered() == """
            # cvm-init config, protocol 1
            argv /bin/echo
            argv two words
            argv back\\\\slash
            argv new\\nline
            argv \\x01
            env GREETING=hé llo
            workdir /app
            user 1000:1000
            console ttyS1

            """)
    }

    @Test func runArgumentQuotesOrEncodes() {
        #expect(GuestInit.runArgument("true") == "cvm.run=true")
        #expect(GuestInit.runArgument("echo hi; exit 3") == "cvm.run=\"echo hi; exit 3\"")
        let tricky = "echo \"quoted\""
        #expect(GuestInit.runArgument(tricky) == "cvm.run64=" + Data(tricky.utf8).base64EncodedString())
    }

    @Test func markersParseWithQuotedFields() {
        let marker = GuestInit.Marker.parse("[    2.1] junk cvm-init: t=1.250000 module name=sev-guest.ko result=failed error=\"No such device\"")
        #expect(marker?.seconds == 1.25)
        #expect(marker?.event == "module")
        #expect(marker?.fields == ["name": "sev-guest.ko", "result": "failed", "error": "No such device"])
        #expect(GuestInit.Marker.parse("cvm-init: t=0.5 mounts-done")?.fields == [:])
        #expect(GuestInit.Marker.parse("Linux version 6.1") == nil)
    }

    @Test func qemuStatusCarriesTheCodeShiftedWithTheLowBitSet() {
        #expect(GuestInit.guestExitCode(fromQEMUStatus: 15) == 7)
        #expect(GuestInit.guestExitCode(fromQEMUStatus: 1) == 0)
        #expect(GuestInit.guestExitCode(fromQEMUStatus: 0) == nil)
    }
}
