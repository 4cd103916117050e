import Foundation
import HostOS
import HostProbe
import SEVABI
import Testing
@testable import Launch

/// A Debian 13 root (scripts/trixie-env) with QEMU 11 and libvirt 12: the newer tools the renderer
/// targets for SEV-SNP, run through chroot. Found at $CVM_TRIXIE_ROOT or in the script's cache, or
/// built on first use when CVM_TRIXIE=1.
enum TrixieRoot {
    static let environment = ProcessInfo.processInfo.environment
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var cachedPath: String {
        if let given = environment["CVM_TRIXIE_ROOT"], !given.isEmpty { return given }
        let cache = environment["CVM_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/cvmkit").path
        return cache + "/trixie-root"
    }

    static func isComplete(_ root: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: root + "/usr/bin/qemu-system-x86_64")
            && FileManager.default.isExecutableFile(atPath: root + "/usr/bin/virt-xml-validate")
    }

    /// Cheap enough for a trait: chroot needs root, and the root must exist or be buildable.
    static var isAvailable: Bool {
        getuid() == 0 && (isComplete(cachedPath) || environment["CVM_TRIXIE"] == "1")
    }

    static let skipReason: Comment = "no Debian 13 root: run scripts/trixie-env (as root) or set CVM_TRIXIE=1 to build it, or CVM_TRIXIE_ROOT=DIR"

    /// The root, built once per test process when asked to; a static let runs its initialiser once,
    /// so parallel tests wait for one build.
    static let resolved: Result<String, LaunchError> = {
        if isComplete(cachedPath) { return .success(cachedPath) }
        let script = packageRoot.appendingPathComponent("scripts/trixie-env").path
        guard let output = ProcessRunner().run([script], timeout: 900) else {
            return .failure(.invalid("\(script) could not be started"))
        }
        let path = output.stdout.split(separator: "\n").last.map(String.init) ?? ""
        guard output.status == 0, isComplete(path) else {
            return .failure(.invalid("scripts/trixie-env failed (\(output.status)): \(output.stderr)"))
        }
        return .success(path)
    }()

    static func path() throws -> String { try resolved.get() }
}

/// Runs programs inside the root, so HostProbe's capability detection sees QEMU 11 instead of the host's.
struct ChrootRunner: CommandRunner {
    let root: String

    func run(_ arguments: [String], timeout: Double) -> CommandOutput? {
        ProcessRunner().run(["chroot", root] + arguments, timeout: timeout)
    }
}

/// Files placed in the root's /tmp for one test, removed afterwards.
struct ChrootScratch {
    let root: String
    let directory: String // as seen inside the chroot

    init(root: String) throws {
        self.root = root
        directory = "/tmp/cvmkit-trixie-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + directory, withIntermediateDirectories: false)
    }

    func write(_ name: String, _ bytes: Data) throws -> String {
        try bytes.write(to: URL(fileURLWithPath: root + directory + "/" + name))
        return directory + "/" + name
    }

    func copy(from pathInRoot: String, to name: String) throws -> String {
        try FileManager.default.copyItem(atPath: root + pathInRoot, toPath: root + directory + "/" + name)
        return directory + "/" + name
    }

    func remove() { try? FileManager.default.removeItem(atPath: root + directory) }
}

/// The launches checked against the newer tools.
enum TrixieSpecs {
    static func random(_ count: Int) -> Data {
        Data((0..<count).map { _ in UInt8.random(in: 0...255) })
    }

    /// Every SNP launch input, each of the size the SNP firmware ABI gives it (SNP_LAUNCH_FINISH: ID block
    /// 96 bytes, ID auth 4096 bytes, HOST_DATA 32 bytes); QEMU checks the decoded lengths itself.
    static func snpInputs() -> SNPLaunchOptions {
        SNPLaunchOptions(idBlock: random(96).base64EncodedString(), idAuth: random(4096).base64EncodedString(),
                         authorKeyEnabled: false, hostData: random(32).base64EncodedString())
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var mode: ConfidentialMode
        var kernelHashes: Bool
        var snpInputs: Bool
        var testDescription: String { label }
    }

    static let snpCases = [
        Case(label: "sev-snp", mode: .sevSNP, kernelHashes: false, snpInputs: false),
        Case(label: "sev-snp+kernel-hashes", mode: .sevSNP, kernelHashes: true, snpInputs: false),
        Case(label: "sev-snp+id-block+host-data", mode: .sevSNP, kernelHashes: false, snpInputs: true),
        Case(label: "sev-snp+kernel-hashes+id-block+host-data", mode: .sevSNP, kernelHashes: true, snpInputs: true),
    ]
    static let sevCases = [
        Case(label: "sev", mode: .sev, kernelHashes: false, snpInputs: false),
        Case(label: "sev+kernel-hashes", mode: .sev, kernelHashes: true, snpInputs: false),
        Case(label: "sev-es+kernel-hashes", mode: .sevES, kernelHashes: true, snpInputs: false),
    ]
    static let xmlCases = [Case(label: "none", mode: .none, kernelHashes: false, snpInputs: false)] + sevCases
    static let tdx = Case(label: "tdx", mode: .tdx, kernelHashes: false, snpInputs: false)

    /// A spec for `testCase`; paths are as QEMU or libvirt would see them.
    static func spec(_ testCase: Case, kernel: String, ovmfBios: String, ovmfCode: String, ovmfVars: String,
                     console: SerialSink = .none, qmpSocket: String? = nil, snp: SNPLaunchOptions? = nil) throws -> LaunchSpec {
        var policy: GuestPolicy?
        var firmware = Firmware.seabios
        switch testCase.mode {
        case .none: break
        case .sev: (policy, firmware) = (.sev(try SEVPolicy(rawValue: 0x01)), .ovmfPflash(code: ovmfCode, vars: ovmfVars))
        case .sevES: (policy, firmware) = (.sev(try SEVPolicy(rawValue: 0x05)), .ovmfPflash(code: ovmfCode, vars: ovmfVars))
        case .sevSNP: (policy, firmware) = (.snp(try SNPPolicy(rawValue: 0x30000)), .ovmfBios(path: ovmfBios))
        case .tdx: (policy, firmware) = (.td(.default), .ovmfBios(path: ovmfBios))
        }
        return LaunchSpec(name: "cvm-\(testCase.label)", boot: .kernel(path: kernel, initrd: nil, cmdline: "console=ttyS0"),
                          mode: testCase.mode, policy: policy, vcpus: 2, memoryMiB: 256, firmware: firmware,
                          accelerator: testCase.mode == .none ? .tcg : .kvm, kernelHashes: testCase.kernelHashes,
                          snp: snp ?? (testCase.snpInputs ? snpInputs() : SNPLaunchOptions()), cbitpos: 51, reducedPhysBits: 1,
                          console: console, qmpSocket: qmpSocket)
    }

    static func xmlSpec(_ testCase: Case) throws -> LaunchSpec {
        try spec(testCase, kernel: "/var/lib/cvm/b/kernel", ovmfBios: "/usr/share/ovmf/OVMF.fd",
                 ovmfCode: "/usr/share/OVMF/OVMF_CODE_4M.fd", ovmfVars: "/var/lib/cvm/vm/OVMF_VARS.fd")
    }
}

/// What QEMU says when it parses an option or property it does not accept.
enum QEMUVerdict {
    static let parseErrors = ["Invalid parameter", "not found", "expects", "is missing", "parameter length", "nknown"]

    /// QEMU ran up to the accelerator and stopped only because KVM (or SEV under it) is not there:
    /// every error line is about KVM, none is about an option.
    static func failedOnlyForLackOfKVM(_ output: CommandOutput) -> Bool {
        let lines = output.stderr.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        guard output.status != 0, !output.timedOut, !lines.isEmpty else { return false }
        return lines.allSatisfy { line in
            line.lowercased().contains("kvm") && !parseErrors.contains { line.contains($0) }
        }
    }
}

@Suite("TrixieTools")
struct TrixieToolsTests {
    // MARK: libvirt domain XML

    static func validateInRoot(_ xml: String, root: String) throws -> CommandOutput {
        let scratch = try ChrootScratch(root: root)
        defer { scratch.remove() }
        let file = try scratch.write("domain.xml", Data(xml.utf8))
        return try #require(ChrootRunner(root: root).run(["virt-xml-validate", file, "domain"], timeout: 60))
    }

    static func libvirtVersion(root: String) throws -> DottedVersion {
        let output = try #require(ChrootRunner(root: root).run(["virsh", "--version"], timeout: 20))
        return try #require(DottedVersion(parsing: output.stdout), "virsh --version said \(output.stdout)")
    }

    @Test("libvirt 12 schemas accept the SNP domain XML", .enabled(if: TrixieRoot.isAvailable, TrixieRoot.skipReason),
          arguments: TrixieSpecs.snpCases)
    func snpDomainXMLValidatesAgainstLibvirt11(testCase: TrixieSpecs.Case) throws {
        let root = try TrixieRoot.path()
        let version = try Self.libvirtVersion(root: root)
        #expect(version >= LibvirtCapabilities.snpMinimumVersion, "the trixie root has libvirt \(version)")
        let xml = try LibvirtDomainXML.render(try TrixieSpecs.xmlSpec(testCase), libvirtVersion: version,
                                              consoleLog: "/var/lib/cvm/vm/console.log")
        #expect(xml.contains("type='sev-snp'"))
        let result = try Self.validateInRoot(xml, root: root)
        #expect(result.status == 0, "virt-xml-validate (libvirt \(version)): \(result.stdout)\(result.stderr)\n\(xml)")
    }

    /// issue 17 Must show: the TDX domain XML (TD attributes as the policy, the QGS socket) is accepted by
    /// libvirt's own schema, in a libvirt that carries launchSecurity type 'tdx'.
    @Test("libvirt 12 schemas accept the TDX domain XML", .enabled(if: TrixieRoot.isAvailable, TrixieRoot.skipReason))
    func tdxDomainXMLValidatesAgainstLibvirt12() throws {
        let root = try TrixieRoot.path()
        var spec = try TrixieSpecs.xmlSpec(TrixieSpecs.tdx)
        spec.tdx = TDXLaunchOptions(quoteGenerationSocket: "/var/run/tdx-qgs/qgs.socket")
        let xml = try LibvirtDomainXML.render(spec, libvirtVersion: try Self.libvirtVersion(root: root), consoleLog: "/var/lib/cvm/vm/console.log")
        #expect(xml.contains("<launchSecurity type='tdx'>"))
        let result = try Self.validateInRoot(xml, root: root)
        #expect(result.status == 0, "virt-xml-validate: \(result.stdout)\(result.stderr)\n\(xml)")
        // The same document with an SEV element inside launchSecurity type='tdx' is refused, so the check can fail.
        let broken = xml.replacingOccurrences(of: "<policy>", with: "<cbitpos>51</cbitpos><policy>")
        #expect(try Self.validateInRoot(broken, root: root).status != 0)
    }

    @Test("libvirt 12 schemas accept the none, SEV and SEV-ES domain XML", .enabled(if: TrixieRoot.isAvailable, TrixieRoot.skipReason),
          arguments: TrixieSpecs.xmlCases)
    func domainXMLValidatesAgainstLibvirt11(testCase: TrixieSpecs.Case) throws {
        let root = try TrixieRoot.path()
        let xml = try LibvirtDomainXML.render(try TrixieSpecs.xmlSpec(testCase), libvirtVersion: try Self.libvirtVersion(root: root),
                                              consoleLog: "/var/lib/cvm/vm/console.log", dacLabel: "+0:+0")
        let result = try Self.validateInRoot(xml, root: root)
        #expect(result.status == 0, "virt-xml-validate: \(result.stdout)\(result.stderr)\n\(xml)")
    }

    @Test("the host's libvirt 9 schemas accept none, SEV and SEV-ES but not SNP",
          .enabled(if: LibvirtDomainXMLTests.hasValidator, "virt-xml-validate is needed (apt-get install libvirt-clients)"))
    func hostSchemasAcceptSEVButNotSNP() throws {
        for testCase in TrixieSpecs.xmlCases {
            let xml = try LibvirtDomainXML.render(try TrixieSpecs.xmlSpec(testCase), consoleLog: "/var/lib/cvm/vm/console.log")
            let result = try LibvirtDomainXMLTests.validate(xml)
            #expect(result.ok, "\(testCase.label): \(result.output)\n\(xml)")
        }
        // Rendered as for another host (no version given): the host's older schema must say no, which is
        // why the renderer refuses SNP on libvirt < 10.5 and why the trixie check exists.
        let snp = try LibvirtDomainXML.render(try TrixieSpecs.xmlSpec(TrixieSpecs.snpCases[3]))
        let hostVersion = ProcessRunner().run(["virsh", "--version"], timeout: 20).flatMap { DottedVersion(parsing: $0.stdout) }
        if let hostVersion, hostVersion < LibvirtCapabilities.snpMinimumVersion {
            #expect(try !LibvirtDomainXMLTests.validate(snp).ok, "libvirt \(hostVersion) schemas accepted type='sev-snp'")
        }
    }

    // MARK: QEMU argv

    /// Renders `testCase` for the root's QEMU with its detected capabilities, the root's OVMF, a small
    /// kernel file and a per-VM VARS copy in the root's /tmp, and runs it there.
    static func runInRoot(_ testCase: TrixieSpecs.Case, root: String, accelerator swap: String? = nil,
                          snp: SNPLaunchOptions? = nil, tdx: TDXLaunchOptions = TDXLaunchOptions(),
                          policy: GuestPolicy? = nil) throws -> (CommandOutput, [String]) {
        let capabilities = try #require(QEMUCapabilities.detect(using: ChrootRunner(root: root)), "no QEMU in \(root)")
        #expect(capabilities.supportsSNPGuest, "\(capabilities.versionLine) lacks sev-snp-guest")
        let scratch = try ChrootScratch(root: root)
        defer { scratch.remove() }
        // 4 KiB of zeros: no "HdrS" signature, so QEMU's loader takes it as a protocol-0 kernel whose
        // setup (header byte 0x1f1 = 0, so 4 sectors) fits; random bytes fail that check about 97% of the time.
        let kernel = try scratch.write("kernel", Data(count: 4096))
        let bios = ["/usr/share/ovmf/OVMF.amdsev.fd", "/usr/share/ovmf/OVMF.fd"].first { FileManager.default.fileExists(atPath: root + $0) }
        let vars = try scratch.copy(from: "/usr/share/OVMF/OVMF_VARS_4M.fd", to: "OVMF_VARS.fd")
        let spec = try TrixieSpecs.spec(testCase, kernel: kernel, ovmfBios: try #require(bios, "no OVMF image in \(root)"),
                                        ovmfCode: "/usr/share/OVMF/OVMF_CODE_4M.fd", ovmfVars: vars,
                                        console: .file(scratch.directory + "/console.log"), qmpSocket: scratch.directory + "/qmp.sock",
                                        snp: snp)
        var withTDX = spec
        withTDX.tdx = tdx
        if let policy { withTDX.policy = policy }
        var argv = try QEMUCommandLine.render(withTDX, capabilities: capabilities)
        if let swap, let index = argv.firstIndex(of: "-accel") {
            argv[index + 1] = swap
        }
        let output = try #require(ChrootRunner(root: root).run(argv, timeout: 20), "chroot could not start QEMU")
        return (output, argv)
    }

    @Test("QEMU 11 accepts the SEV, SEV-ES and SNP argv up to KVM initialisation", .enabled(if: TrixieRoot.isAvailable, TrixieRoot.skipReason),
          arguments: TrixieSpecs.snpCases + TrixieSpecs.sevCases)
    func qemu10StopsOnlyForLackOfKVM(testCase: TrixieSpecs.Case) throws {
        let root = try TrixieRoot.path()
        // With /dev/kvm in the root QEMU gets further and stops at SEV instead ("vm-type SEV-SNP not
        // supported by KVM", "cbitpos check failed"): still KVM lines, so the verdict holds either way.
        let (output, argv) = try Self.runInRoot(testCase, root: root)
        #expect(QEMUVerdict.failedOnlyForLackOfKVM(output),
                "status \(output.status), timed out \(output.timedOut), stderr:\n\(output.stderr)\n\(QEMUCommandLine.shellQuoted(argv))")
    }

    /// issue 17 Must show: the TDX argv, rendered for the root's detected QEMU (≥ 10.1, tdx-guest) with its
    /// OVMF.fd (Debian's OvmfPkgX64, which carries the TDX metadata) as the TDVF, stops only for lack of
    /// KVM; with TCG in KVM's place QEMU builds the machine and stops where TDX needs KVM's private memory.
    /// With the QGS socket (QEMU's JSON form of -object) the same holds.
    @Test("QEMU 11 accepts the TDX argv up to KVM initialisation", .enabled(if: TrixieRoot.isAvailable, TrixieRoot.skipReason),
          arguments: [false, true])
    func qemu11AcceptsTheTDXArgv(quoteSocket: Bool) throws {
        let root = try TrixieRoot.path()
        let capabilities = try #require(QEMUCapabilities.detect(using: ChrootRunner(root: root)))
        #expect(capabilities.supportsTDXGuest, "\(capabilities.versionLine) lacks tdx-guest")
        let tdx = quoteSocket ? TDXLaunchOptions(quoteGenerationSocket: "/var/run/tdx-qgs/qgs.socket") : TDXLaunchOptions()
        let (output, argv) = try Self.runInRoot(TrixieSpecs.tdx, root: root, tdx: tdx)
        #expect(argv.contains("-bios") && argv.contains { $0.contains("tdx-guest") })
        #expect(QEMUVerdict.failedOnlyForLackOfKVM(output),
                "status \(output.status), timed out \(output.timedOut), stderr:\n\(output.stderr)\n\(QEMUCommandLine.shellQuoted(argv))")
        let (tcg, tcgArgv) = try Self.runInRoot(TrixieSpecs.tdx, root: root, accelerator: "tcg", tdx: tdx)
        let errors = tcg.stderr.split(separator: "\n").map(String.init).filter { !$0.contains("warning: TCG doesn't support") }
        #expect(errors == ["qemu-system-x86_64: cannot set up private guest memory for tdx-guest: KVM required"],
                "\(tcg.stderr)\n\(QEMUCommandLine.shellQuoted(tcgArgv))")
        // A property tdx-guest does not have is refused before anything else, so the checks above can fail.
        var wrong = tcgArgv
        if let index = wrong.firstIndex(where: { $0.hasPrefix("tdx-guest,") }) { wrong[index] += ",debug=on" }
        if !quoteSocket {
            let refused = try #require(ChrootRunner(root: root).run(wrong, timeout: 20))
            #expect(refused.stderr.contains("Invalid parameter 'debug'"), "\(refused.stderr)")
        }
    }

    /// TD attributes with PERFMON (bit 63) in QEMU's JSON form of -object (which the QGS socket needs): a
    /// number above Int64.max, which QEMU 11 takes as the uint64 it is (and 2^64 it refuses, so the
    /// parse is real).
    @Test(.enabled(if: TrixieRoot.isAvailable, TrixieRoot.skipReason))
    func qemu11TakesPerfmonInTheJSONAttributes() throws {
        let root = try TrixieRoot.path()
        let attributes = TDAttributes(rawValue: TDAttributes.default.rawValue | 1 << 63)
        let (tcg, argv) = try Self.runInRoot(TrixieSpecs.tdx, root: root, accelerator: "tcg",
                                             tdx: TDXLaunchOptions(quoteGenerationSocket: "/var/run/tdx-qgs/qgs.socket"), policy: .td(attributes))
        let object = try #require(argv.first { $0.contains("\"tdx-guest\"") }, "\(argv)")
        #expect(object.contains("\(attributes.rawValue)"), "\(object)")
        let errors = tcg.stderr.split(separator: "\n").map(String.init).filter { !$0.contains("warning: TCG doesn't support") }
        #expect(errors == ["qemu-system-x86_64: cannot set up private guest memory for tdx-guest: KVM required"], "\(tcg.stderr)")
        let tooLarge = argv.map { $0 == object ? object.replacingOccurrences(of: "\(attributes.rawValue)", with: "18446744073709551616") : $0 }
        let refused = try #require(ChrootRunner(root: root).run(tooLarge, timeout: 20))
        #expect(refused.stderr.contains("expects uint64"), "\(refused.stderr)")
    }

    /// QEMU creates the confidential-guest object before the accelerator and the memory backend, CPU,
    /// firmware, kernel and devices after it. Swapping in TCG (which the renderer itself never does for
    /// these modes) lets QEMU 11 go through the rest of the argv: SNP stops when the memfd backend needs
    /// private memory, which only KVM gives; SEV and SEV-ES build the whole machine and stop when the
    /// confidential guest is not ready; with kernel hashes they stop earlier, because Debian's OVMF is
    /// not the OvmfPkg/AmdSev build and has no hashes table.
    @Test("QEMU 11 goes through the rest of the argv when TCG stands in for KVM", .enabled(if: TrixieRoot.isAvailable, TrixieRoot.skipReason),
          arguments: TrixieSpecs.snpCases + TrixieSpecs.sevCases)
    func qemu10BuildsTheMachineUnderTCG(testCase: TrixieSpecs.Case) throws {
        let root = try TrixieRoot.path()
        let (output, argv) = try Self.runInRoot(testCase, root: root, accelerator: "tcg")
        let errors = output.stderr.split(separator: "\n").map(String.init).filter { !$0.contains("warning: TCG doesn't support") }
        let expected = switch (testCase.mode, testCase.kernelHashes) {
        case (.sevSNP, _): "cannot set up private guest memory for sev-snp-guest: KVM required"
        case (_, true): "SEV: guest firmware hashes table area is invalid (base=0x0 size=0x0)"
        default: "accelerator does not support confidential guest sev-guest"
        }
        #expect(output.status != 0 && !output.timedOut)
        #expect(errors == ["qemu-system-x86_64: " + expected],
                "expected only '\(expected)', got:\n\(output.stderr)\n\(QEMUCommandLine.shellQuoted(argv))")
    }

    /// 13 Must show: the ID block and ID auth that `cvm id-block` signs (with an ID key and an author
    /// key, from openssl) and a HOST_DATA value, as `cvm run --id-block FILE --host-data HEX` takes
    /// them, are accepted by QEMU 11: with KVM missing it stops only for KVM, and with TCG standing in
    /// it goes through the whole argv to the private-memory error.
    @Test("QEMU 11 accepts an SNP launch with the ID block, ID auth and HOST_DATA from cvm id-block",
          .enabled(if: TrixieRoot.isAvailable, TrixieRoot.skipReason))
    func qemu10AcceptsTheIDBlockFromCvmIDBlock() throws {
        let root = try TrixieRoot.path()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-trixie-idblock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["id", "author"] {
            let made = try #require(ProcessRunner().run(["openssl", "ecparam", "-name", "secp384r1", "-genkey", "-noout",
                                                         "-out", dir.appendingPathComponent("\(name).pem").path], timeout: 20))
            try #require(made.status == 0, "openssl: \(made.stderr)")
        }
        let cvm = try #require(Self.cvmExecutable, "the cvm executable is not built next to the tests")
        let block = try #require(ProcessRunner().run([cvm, "id-block", "--measurement", String(repeating: "5a", count: 48),
                                                      "--id-key", dir.appendingPathComponent("id.pem").path,
                                                      "--author-key", dir.appendingPathComponent("author.pem").path, "--json"], timeout: 30))
        try #require(block.status == 0, "cvm id-block: \(block.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(block.stdout.utf8)) as? [String: Any])
        let snp = SNPLaunchOptions(idBlock: try #require(object["idBlock"] as? String), idAuth: try #require(object["idAuth"] as? String),
                                   authorKeyEnabled: true, hostData: Data([UInt8](repeating: 0xA5, count: 32)).base64EncodedString())
        let testCase = TrixieSpecs.snpCases[0]

        let (kvm, argv) = try Self.runInRoot(testCase, root: root, snp: snp)
        #expect(argv.contains { $0.contains("id-block=\(snp.idBlock!),id-auth=\(snp.idAuth!),author-key-enabled=on,host-data=\(snp.hostData!)") },
                "\(QEMUCommandLine.shellQuoted(argv))")
        #expect(QEMUVerdict.failedOnlyForLackOfKVM(kvm), "status \(kvm.status), stderr:\n\(kvm.stderr)\n\(QEMUCommandLine.shellQuoted(argv))")
        let (tcg, _) = try Self.runInRoot(testCase, root: root, accelerator: "tcg", snp: snp)
        let errors = tcg.stderr.split(separator: "\n").map(String.init).filter { !$0.contains("warning: TCG doesn't support") }
        #expect(errors == ["qemu-system-x86_64: cannot set up private guest memory for sev-snp-guest: KVM required"], "\(tcg.stderr)")
    }

    /// The built `cvm`, found by walking up from the test bundle (.build/<triple>/debug/).
    static var cvmExecutable: String? {
        for start in [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()] {
            var directory = start
            while directory.path != "/" {
                let cvm = directory.appendingPathComponent("cvm").path
                if FileManager.default.isExecutableFile(atPath: cvm) { return cvm }
                directory.deleteLastPathComponent()
            }
        }
        return nil
    }

    @Test("QEMU 11 rejects SNP inputs of the wrong size before KVM, so the check above can fail",
          .enabled(if: TrixieRoot.isAvailable, TrixieRoot.skipReason))
    func qemu10RejectsMisSizedSNPInputs() throws {
        let root = try TrixieRoot.path()
        let spec = try TrixieSpecs.spec(TrixieSpecs.snpCases[0], kernel: "/nonexistent/kernel", ovmfBios: "/usr/share/ovmf/OVMF.fd",
                                        ovmfCode: "", ovmfVars: "")
        var wrong = spec
        wrong.snp = SNPLaunchOptions(hostData: TrixieSpecs.random(31).base64EncodedString())
        let argv = try QEMUCommandLine.render(wrong)
        let output = try #require(ChrootRunner(root: root).run(argv, timeout: 20))
        #expect(!QEMUVerdict.failedOnlyForLackOfKVM(output), "\(output.stderr)")
        #expect(output.stderr.contains("parameter length of 31 not equal to 32"), "\(output.stderr)")
    }

    // MARK: the host's QEMU 7.2

    static func sevGuestObject(in argv: [String]) -> String? {
        argv.indices.dropLast().first { argv[$0] == "-object" && argv[$0 + 1].hasPrefix("sev-guest,") }.map { argv[$0 + 1] }
    }

    static func propertyNames(of object: String) -> [String] {
        object.split(separator: ",").dropFirst().compactMap { $0.split(separator: "=").first.map(String.init) }.filter { $0 != "id" }
    }

    /// QEMU creates -object options in order before anything else; when the object under test is
    /// accepted, the error QEMU stops with is the sentinel's unknown property.
    static func hostQEMUAcceptsObject(_ object: String) -> (Bool, String) {
        let sentinel = "secret,id=cvm-sentinel,cvm-sentinel-property=1"
        let output = ProcessRunner().run(["qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display", "none",
                                          "-object", object, "-object", sentinel], timeout: 20)
        let stderr = output?.stderr ?? "qemu-system-x86_64 did not run"
        return (stderr.contains("Invalid parameter 'cvm-sentinel-property'"), stderr)
    }

    /// `-object sev-guest,help` lists class properties only; in QEMU 7.2 (and 10) cbitpos,
    /// reduced-phys-bits, policy and handle are instance properties missing from it, so a property also
    /// counts as known when QEMU's parser, given a bad value for it, names it instead of calling it invalid.
    static func hostQEMUKnowsProperty(_ name: String, of object: String) -> (Bool, String) {
        let corrupted = object.split(separator: ",").map { item in
            item.split(separator: "=", maxSplits: 1).first.map(String.init) == name ? "\(name)=cvm-not-a-value" : String(item)
        }.joined(separator: ",")
        let (accepted, stderr) = hostQEMUAcceptsObject(corrupted)
        return (!accepted && stderr.contains("'\(name)'") && !stderr.contains("Invalid parameter"), stderr)
    }

    @Test("the host QEMU knows every sev-guest property the renderer writes",
          .enabled(if: ProcessRunner.which("qemu-system-x86_64") != nil, "qemu-system-x86_64 is needed"),
          arguments: TrixieSpecs.sevCases)
    func hostQEMUKnowsEverySEVGuestProperty(testCase: TrixieSpecs.Case) throws {
        let help = try #require(ProcessRunner().run(["qemu-system-x86_64", "-object", "sev-guest,help"], timeout: 20))
        let listed = Set(help.stdout.split(separator: "\n").dropFirst().compactMap {
            $0.split(separator: "=").first.map { String($0).trimmingCharacters(in: .whitespaces) }
        })
        try #require(help.status == 0 && !listed.isEmpty, "this QEMU has no sev-guest object: \(help.stderr)")
        let spec = try TrixieSpecs.spec(testCase, kernel: "/k", ovmfBios: "/b.fd", ovmfCode: "/c.fd", ovmfVars: "/v.fd")
        let object = try #require(Self.sevGuestObject(in: try QEMUCommandLine.render(spec)))
        let (accepted, stderr) = Self.hostQEMUAcceptsObject(object)
        #expect(accepted, "QEMU rejected \(object): \(stderr)")
        for name in Self.propertyNames(of: object) {
            let (known, why) = Self.hostQEMUKnowsProperty(name, of: object)
            #expect(listed.contains(name) || known, "'\(name)' is neither listed by sev-guest,help (\(listed.sorted())) nor parsed: \(why)")
        }
        if testCase.kernelHashes { #expect(listed.contains("kernel-hashes")) }
        // The probe can say no: a misspelt property is refused.
        #expect(!Self.hostQEMUAcceptsObject(object + ",kernel-hashs=on").0)
        #expect(!Self.hostQEMUKnowsProperty("kernel-hashs", of: object + ",kernel-hashs=on").0)
    }
}
