import Foundation
import Testing

struct HostCheckCLITests {
    static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("HostProbeTests/Fixtures/hosts")
    }

    @Test func modeExitStatusFollowsTheVerdict() throws {
        let genoa = Self.fixtures.appendingPathComponent("genoa-snp-disabled.json").path
        let sev = try CLIRun.cvm("host", "check", "--replay", genoa, "--mode", "sev")
        #expect(sev.status == 0, "\(sev.stdout)")
        #expect(sev.stdout.contains("SEV: ready"))
        let snp = try CLIRun.cvm("host", "check", "--replay", genoa, "--mode", "sev-snp")
        #expect(snp.status == 1)
        #expect(snp.stdout.contains("SEV-SNP: not ready"))
        #expect(snp.stdout.contains("fix: "))
    }

    @Test func jsonHasTheDocumentedShape() throws {
        let milan = Self.fixtures.appendingPathComponent("milan-snp-ready.json").path
        let run = try CLIRun.cvm("host", "check", "--replay", milan, "--json")
        #expect(run.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["schema"] as? String == "cvmkit.host-check/1")
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.count > 20)
        for check in checks {
            #expect(check["id"] is String && check["status"] is String && check["reason"] is String && check["requiredFor"] is [Any])
            #expect(["pass", "fail", "skip", "info"].contains(check["status"] as? String ?? ""))
        }
        let verdicts = try #require(object["verdicts"] as? [[String: Any]])
        #expect(verdicts.map { $0["mode"] as? String } == ["none", "sev", "sev-es", "sev-snp", "tdx"])
        // The SNP-ready Milan host is ready for every SEV mode; TDX is Intel's.
        #expect(verdicts.dropLast().allSatisfy { $0["ready"] as? Bool == true })
        #expect(verdicts.last?["ready"] as? Bool == false)
        #expect(verdicts.first?["accelerator"] as? String == "kvm")
    }

    @Test func nestedVMReportsModeNoneUnderTCGAndTheHypervisorCause() throws {
        let nested = Self.fixtures.appendingPathComponent("nested-cloud-vm.json").path
        let text = try CLIRun.cvm("host", "check", "--replay", nested)
        #expect(text.status == 0)
        #expect(text.stdout.contains("none: ready (accelerator tcg)"))
        #expect(text.stdout.contains("kvm.device-access"))
        #expect(!text.stdout.contains("modprobe kvm_amd"))
        #expect(!text.stdout.contains("modprobe ccp"))
        let json = try CLIRun.cvm("host", "check", "--replay", nested, "--json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let verdicts = try #require(object["verdicts"] as? [[String: Any]])
        #expect(verdicts.first?["mode"] as? String == "none")
        #expect(verdicts.first?["accelerator"] as? String == "tcg")
        let statuses = Dictionary(uniqueKeysWithValues: try #require(object["checks"] as? [[String: Any]]).map { ($0["id"] as? String ?? "", $0["status"] as? String ?? "") })
        for id in ["msr.syscfg", "msr.rmp", "cpuid.asids", "sev.platform-status"] { #expect(statuses[id] == "skip", "\(id)") }
    }

    @Test func liveCheckExitStatusMatchesWhatItPrints() throws {
        let run = try CLIRun.cvm("host", "check", "--mode", "sev-snp", "--no-guest-probe")
        #expect(run.stdout.contains("cpu.vendor"))
        #expect(run.stdout.contains("kvm.usable"))
        if run.stdout.contains("SEV-SNP: ready") {
            #expect(run.status == 0)
        } else {
            #expect(run.status == 1)
            #expect(run.stdout.contains("SEV-SNP: not ready ("))
        }
    }

    @Test func unreadableRecordingIsBadInput() throws {
        let run = try CLIRun.cvm("host", "check", "--replay", "/nonexistent/host.json")
        #expect(run.status == 2)
        #expect(run.stderr.contains("cannot read host recording"))
    }

    @Test func unknownModeIsAUsageError() throws {
        let run = try CLIRun.cvm("host", "check", "--mode", "sev-xx")
        #expect(run.status == 2)
        // TDX is a mode: on this host (not a TDX host) the answer is "not ready", exit 1, with the blockers.
        let tdx = try CLIRun.cvm("host", "check", "--mode", "tdx", "--no-guest-probe")
        #expect(tdx.status == 1, "\(tdx.stdout)\(tdx.stderr)")
        #expect(tdx.stdout.contains("TDX: not ready"), "\(tdx.stdout)")
    }
}
