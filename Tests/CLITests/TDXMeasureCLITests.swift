import Foundation
import GuestImage
import Testing

/// `cvm measure --mode tdx --kernel …`: RTMR1/RTMR2 of a direct boot beside MRTD, with Debian's OVMF.fd
/// (which carries the TDX metadata) and Debian's kernel, as a user would run it.
@Suite struct TDXMeasureCLITests {
    static let ovmf = "/usr/share/ovmf/OVMF.fd"

    struct Row: Decodable {
        struct Event: Decodable { let rtmr: Int; let type: String; let digest: String }
        let mrtd: String
        let rtmr1: String?
        let rtmr2: String?
        let events: [Event]?
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: ovmf), "needs Debian's ovmf"), .timeLimit(.minutes(10)))
    func aDirectBootGetsRTMR1AndRTMR2() throws {
        let fetched = try LinuxKernel.fetch(release: nil, cache: DebianPackageCache(root: DebianPackageCache.defaultRoot()), progress: { _ in })
        let kernel = fetched.image.path
        let numbers = fetched.release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        let stubMeasures = numbers.count == 2 && (numbers[0], numbers[1]) >= (6, 9)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-rtmr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let initrd = directory.appendingPathComponent("initrd.img").path
        try Data(repeating: 0x42, count: 5000).write(to: URL(fileURLWithPath: initrd))
        let base = ["measure", "--mode", "tdx", "--firmware", Self.ovmf, "--kernel", kernel, "--initrd", initrd, "--append", "console=hvc0"]
        func row(_ extra: [String]) throws -> Row {
            let run = try CLIRun.cvm(base + extra + ["--json"])
            try #require(run.status == 0, "\(run.stderr)")
            return try JSONDecoder().decode(Row.self, from: Data(run.stdout.utf8))
        }
        let mrtdOnly = try CLIRun.cvm("measure", "--mode", "tdx", "--firmware", Self.ovmf)
        let text = try CLIRun.cvm(base)
        #expect(text.status == 0)
        let lines = text.stdout.split(separator: "\n")
        #expect(lines.count == 3 && lines[0] == "mrtd  " + mrtdOnly.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "\(text.stdout)")
        #expect(text.stderr.contains("RTMR0") && text.stderr.contains("not yet compared with a TD"))
        // A kernel before 6.9 (Debian 12's 6.1) measures nothing into RTMR2, and cvm says so; 6.9 on, the
        // stub's LoadOptions and initrd events go there.
        let zero = "rtmr2 " + String(repeating: "0", count: 96)
        #expect(stubMeasures ? lines[2] != zero : lines[2] == zero && text.stderr.contains("measures into RTMR2 only from 6.9"),
                "\(fetched.release): \(text.stdout)\(text.stderr)")

        let newest = try row([])
        let tagged = stubMeasures ? ["EV_EVENT_TAG", "EV_EVENT_TAG"] : []
        #expect(newest.events?.map(\.type) == ["EV_EFI_BOOT_SERVICES_APPLICATION", "EV_EFI_ACTION", "EV_SEPARATOR"] + tagged + ["EV_EFI_ACTION", "EV_EFI_ACTION"])
        let older = try row(["--edk2-release", "202402"])
        #expect(older.events?.count == newest.events.map { $0.count - 1 } && older.rtmr1 != newest.rtmr1)
        // Before edk2 202508 the initrd option follows the command line: another LoadOptions digest.
        #expect(!stubMeasures || older.rtmr2 != newest.rtmr2)
        // The initrd's address is in the edited header: memory moves it and so the kernel's digest.
        let bigger = try row(["--memory", "2G"])
        #expect(bigger.events?.first?.digest != newest.events?.first?.digest)
        #expect(Array(bigger.events?.dropFirst() ?? []).map(\.digest) == Array(newest.events?.dropFirst() ?? []).map(\.digest))
        let backported = try row(["--stub-rtmr2", "yes"])
        #expect(backported.events?.filter { $0.rtmr == 2 }.count == 2)
        let unpatched = try row(["--unpatched-kernel"])
        #expect(unpatched.events?.first?.digest != newest.events?.first?.digest)

        for (arguments, words) in [(["measure", "--mode", "tdx", "--firmware", Self.ovmf, "--memory", "2G"], "need --kernel"),
                                   (base + ["--edk2-release", "2025"], "YYYYMM"),
                                   (base + ["--memory", "lots"], "invalid --memory"),
                                   (base + ["--stub-rtmr2", "maybe"], "auto, yes or no"),
                                   (["measure", "--mode", "tdx", "--firmware", Self.ovmf, "--kernel", initrd], "not a Linux bzImage"),
                                   (["measure", "--mode", "sev-snp", "--firmware", Self.ovmf, "--vcpus", "1", "--cpu", "EPYC-Milan", "--memory", "1G"], "apply to --mode tdx")] {
            let run = try CLIRun.cvm(arguments)
            #expect(run.status == 2, "\(arguments)")
            #expect(run.stderr.contains(words) && run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        }
    }
}
