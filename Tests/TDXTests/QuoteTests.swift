import Certificates
import Crypto
import Foundation
import Testing
@testable import DCAPQuote
@testable import TDXAttestation

/// The real Intel quotes of ../shared/vectors/tdx (copied, see NOTICE): parsed field for field against
/// dcap-qvl (PyPI), their signature chains verified, and tampered or truncated copies refused.
enum TDXFixture {
    static func url(_ name: String) -> URL {
        guard let base = Bundle.module.resourceURL else { fatalError("no resources") }
        return base.appendingPathComponent("Fixtures").appendingPathComponent(name)
    }
    static func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: url(name))) }

    /// Quote, collateral and the time its README gives, with dcap-qvl's verdict there.
    static let vectors: [(quote: String, collateral: String, time: Int)] = [
        ("tdx_quote", "tdx_quote_collateral.json", 1_751_624_191),
        ("quote_v5_sample.dat", "tdx_quote_outdated_collateral.json", 1_772_707_803),
        ("tdx_prod_quote_SPR_E4.dat", "collateral_v4_50806f000000.json", 1_687_939_438),
        ("tdx_quote_4.dat", "collateral_v4_50806f000000.json", 1_687_939_438),
        ("sgx_quote", "sgx_quote_collateral.json", 1_751_624_924),
    ]

    /// dcap-qvl in scripts/test's .venv-oracle (DCAP_QVL_PYTHON), nil when it is not there.
    static let oraclePython: String? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return [ProcessInfo.processInfo.environment["DCAP_QVL_PYTHON"], root.appendingPathComponent(".venv-oracle/bin/python").path]
            .compactMap { $0 }.first { path in
                FileManager.default.isExecutableFile(atPath: path) && (try? oracleRun(path, ["-c", "import dcap_qvl"]))?.0 == 0
            }
    }()

    static func oracleRun(_ python: String, _ arguments: [String]) throws -> (Int32, [UInt8]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, Array(data))
    }

    static let oracleScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracles/dcap_qvl_oracle.py").path

    static func oracle(_ arguments: [String]) throws -> [String: Any] {
        let python = try #require(oraclePython)
        let (status, out) = try oracleRun(python, [oracleScript] + arguments)
        #expect(status == 0)
        return try #require(try JSONSerialization.jsonObject(with: Data(out)) as? [String: Any])
    }

    static func write(_ bytes: [UInt8]) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-quote-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        return url.path
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

@Suite struct QuoteParsingTests {
    static let needsOracle: Comment = "needs dcap-qvl (scripts/test installs it into .venv-oracle)"

    @Test(.enabled(if: TDXFixture.oraclePython != nil || ProcessInfo.processInfo.environment["CI"] == "true", needsOracle),
          arguments: TDXFixture.vectors.map(\.quote) + ["ccel/cos-113-tdx-quote.dat"])
    func everyFieldMatchesDcapQvl(name: String) throws {
        let quote = try DCAPQuote(bytes: TDXFixture.bytes(name))
        let expected = try TDXFixture.oracle(["parse", TDXFixture.url(name).path])
        #expect(Int(quote.header.version) == expected["version"] as? Int)
        #expect(Int(quote.header.tee.rawValue) == expected["tee_type"] as? Int)
        #expect(Int(quote.header.qeSVN) == expected["qe_svn"] as? Int)
        #expect(Int(quote.header.pceSVN) == expected["pce_svn"] as? Int)
        #expect(hex(quote.header.qeVendorID) == expected["qe_vendor_id"] as? String)
        #expect(hex(quote.header.userData) == expected["user_data"] as? String)
        #expect(hex(quote.reportData) == expected["report_data"] as? String)
        switch quote.body {
        case .sgx(let report):
            #expect(hex(report.mrEnclave) == expected["mr_enclave"] as? String)
            #expect(hex(report.mrSigner) == expected["mr_signer"] as? String)
        case .td10(let td), .td15(let td):
            #expect(hex(td.mrTD) == expected["mr_td"] as? String)
            for index in 0..<4 { #expect(hex(td.rtmrs[index]) == expected["rt_mr\(index)"] as? String) }
            #expect(hex(td.tdAttributes) == expected["td_attributes"] as? String)
            #expect(hex(td.xfam) == expected["xfam"] as? String)
            #expect(hex(td.teeTCBSVN) == expected["tee_tcb_svn"] as? String)
            #expect(hex(td.mrSeam) == expected["mr_seam"] as? String)
            #expect(hex(td.mrSignerSeam) == expected["mr_signer_seam"] as? String)
            #expect(hex(td.mrConfigID) == expected["mr_config_id"] as? String)
            if let svn2 = td.teeTCBSVN2 { #expect(hex(svn2) == expected["tee_tcb_svn2"] as? String) }
            if let service = td.mrServiceTD { #expect(hex(service) == expected["mr_service_td"] as? String) }
        }
    }

    @Test func bodiesAndVersionsAreTold() throws {
        #expect(try DCAPQuote(bytes: TDXFixture.bytes("tdx_quote")).body.name == "TD 1.0 report")
        #expect(try DCAPQuote(bytes: TDXFixture.bytes("quote_v5_sample.dat")).body.name == "TD 1.5 report")
        #expect(try DCAPQuote(bytes: TDXFixture.bytes("sgx_quote")).body.name == "SGX enclave report")
        #expect(try DCAPQuote(bytes: TDXFixture.bytes("sgx_quote")).header.version == 3)
        for vector in TDXFixture.vectors { #expect(DCAPQuote.looksLikeQuote(try TDXFixture.bytes(vector.quote))) }
    }

    /// Every prefix of a real quote is refused with a typed error, never a trap.
    @Test func everyTruncationIsRefused() throws {
        for name in ["tdx_quote", "quote_v5_sample.dat", "sgx_quote"] {
            let bytes = try TDXFixture.bytes(name)
            // Up to the end of the signature data: the zeros real quotes carry after it are not part of it.
            let end = bytes.count - (try DCAPQuote(bytes: bytes)).trailingByteCount
            for length in stride(from: 0, to: end, by: 7) {
                #expect(throws: DCAPQuote.Failure.self) { _ = try DCAPQuote(bytes: Array(bytes.prefix(length))) }
            }
        }
    }

    @Test func lyingLengthsUnknownVersionsAndNonPEMAreRefused() throws {
        var bytes = try TDXFixture.bytes("tdx_quote")
        var version = bytes
        version[0] = 9
        #expect(throws: DCAPQuote.Failure.unsupportedVersion(9)) { try DCAPQuote(bytes: version) }
        var key = bytes
        key[2] = 3
        #expect(throws: DCAPQuote.Failure.unsupportedAttestationKey(3)) { try DCAPQuote(bytes: key) }
        // The signature data length (right after the 48 + 584 bytes) pointing past the end.
        let at = 48 + 584
        var long = bytes
        long.replaceSubrange(at..<at + 4, with: [0xFF, 0xFF, 0xFF, 0x00])
        #expect(throws: DCAPQuote.Failure.self) { try DCAPQuote(bytes: long) }
        // The PEM chain's first byte damaged: not PEM.
        let begin = try #require(bytes.firstRange(of: Array("-----BEGIN".utf8)))
        bytes[begin.lowerBound] = UInt8(ascii: "x")
        #expect(throws: DCAPQuote.Failure.notPEM) { try DCAPQuote(bytes: bytes) }
        // Bytes after the signature data (real quotes have them) are counted, outside every signed range.
        let original = try DCAPQuote(bytes: TDXFixture.bytes("tdx_quote"))
        let padded = try DCAPQuote(bytes: TDXFixture.bytes("tdx_quote") + [0, 0, 0])
        #expect(padded.trailingByteCount == original.trailingByteCount + 3)
        #expect(padded.signedBytes == original.signedBytes)
        #expect(!DCAPQuote.looksLikeQuote(Array(repeating: 0, count: 1184)))
    }
}

@Suite struct QuoteSignatureTests {
    @Test func thePinnedRootIsIntels() throws {
        let pinned = try #require(IntelRoot.certificate)
        #expect(pinned.der == (try TDXFixture.bytes("TrustedRootCA.der")))
    }

    @Test(arguments: TDXFixture.vectors)
    func everyVectorsSignatureChainVerifies(vector: (quote: String, collateral: String, time: Int)) throws {
        let quote = try DCAPQuote(bytes: TDXFixture.bytes(vector.quote))
        var policy = QuotePolicy()
        policy.allowDebug = true
        let verdict = QuoteVerifier.verify(quote, at: Date(timeIntervalSince1970: TimeInterval(vector.time)), policy: policy)
        let signatures: Set<String> = ["root", "pck-ca", "pck", "validity", "qe-report-signature", "qe-report-data", "quote-signature"]
        #expect(Set(verdict.checks.map(\.name)).isSuperset(of: signatures))
        let failed = verdict.failures.map(\.name)
        // The SPR E4 quote was taken without SEPT_VE_DISABLE; every other vector passes whole.
        #expect(failed == (vector.quote == "tdx_prod_quote_SPR_E4.dat" ? ["td-attributes"] : []), "\(verdict.failures)")
    }

    /// trustee's quote has TDATTRIBUTES.DEBUG set: refused by default (dcap-qvl: "Debug mode is enabled").
    @Test func aDebugTDIsRefusedByDefault() throws {
        let quote = try DCAPQuote(bytes: TDXFixture.bytes("tdx_quote_4.dat"))
        let verdict = QuoteVerifier.verify(quote, at: Date(timeIntervalSince1970: 1_687_939_438))
        #expect(verdict.failures.map(\.name) == ["td-attributes"])
    }

    /// A flipped bit in the body, the signature, the QE report or the QE authentication data, and a PCK
    /// chain from another quote: each fails its own check here, and dcap-qvl refuses the same bytes.
    @Test func tamperedCopiesFailTheirCheckAndDcapQvlAgrees() throws {
        let bytes = try TDXFixture.bytes("tdx_quote")
        let quote = try DCAPQuote(bytes: bytes)
        let time = Date(timeIntervalSince1970: 1_751_624_191)
        let signatureStart = 48 + 584 + 4
        let qeReportStart = signatureStart + 128 + 6
        var cases: [(String, [UInt8], String)] = []
        var body = bytes; body[48 + 200] ^= 1; cases.append(("body", body, "quote-signature"))
        var signature = bytes; signature[signatureStart + 10] ^= 1; cases.append(("signature", signature, "quote-signature"))
        var qeReport = bytes; qeReport[qeReportStart + 100] ^= 1; cases.append(("QE report", qeReport, "qe-report-signature"))
        var key = bytes; key[signatureStart + 64 + 5] ^= 1; cases.append(("attestation key", key, "qe-report-data"))
        // The PCK chain of the v5 sample (another platform) spliced into this quote.
        let other = try DCAPQuote(bytes: TDXFixture.bytes("quote_v5_sample.dat"))
        let start = try #require(bytes.firstRange(of: Array("-----BEGIN".utf8))).lowerBound
        if other.pckChainPEM.count == quote.pckChainPEM.count {
            var spliced = bytes
            spliced.replaceSubrange(start..<start + other.pckChainPEM.count, with: other.pckChainPEM)
            cases.append(("PCK chain of another quote", spliced, "qe-report-signature"))
        }
        for (label, tampered, check) in cases {
            let parsed = try DCAPQuote(bytes: tampered)
            let verdict = QuoteVerifier.verify(parsed, at: time)
            #expect(verdict.failures.map(\.name).contains(check), "\(label): \(verdict.failures)")
            if TDXFixture.oraclePython != nil {
                let answer = try TDXFixture.oracle(["verify", try TDXFixture.write(tampered), TDXFixture.url("tdx_quote_collateral.json").path, "1751624191"])
                #expect(answer["ok"] as? Bool == false, "\(label): dcap-qvl accepted it")
            }
        }
        #expect(cases.count >= 4)
    }

    @Test func thePolicyComparesTheTDReport() throws {
        let quote = try DCAPQuote(bytes: TDXFixture.bytes("tdx_quote"))
        guard case .td10(let td) = quote.body else { Issue.record("not a TD quote"); return }
        var policy = QuotePolicy()
        policy.mrTD = td.mrTD
        policy.rtmrs = [0: td.rtmrs[0]]
        policy.reportData = quote.reportData
        let time = Date(timeIntervalSince1970: 1_751_624_191)
        #expect(QuoteVerifier.verify(quote, at: time, policy: policy).passed)
        policy.mrTD = [UInt8](repeating: 0, count: 48)
        #expect(QuoteVerifier.verify(quote, at: time, policy: policy).failures.map(\.name) == ["mrtd"])
        #expect(!QuoteVerifier.verify(quote, at: Date(timeIntervalSince1970: 4_102_444_800 * 2)).passed, "outside the chain's validity")
    }
}

@Suite struct EventLogTests {
    /// go-tdx-guest's CCEL from a COS 113 TD: replayed, it gives exactly the RTMR0–2 of the quote taken
    /// in the same VM, and RTMR3 stays zero.
    @Test func theCCELReplaysToTheQuotesRTMRs() throws {
        let log = try TDXEventLog(bytes: TDXFixture.bytes("ccel/ccel_data.dat"))
        let quote = try DCAPQuote(bytes: TDXFixture.bytes("ccel/cos-113-tdx-quote.dat"))
        guard case .td10(let td) = quote.body else { Issue.record("not a TD 1.0 quote"); return }
        #expect(log.events.count == 43)
        for index in 0..<3 { #expect(log.rtmrs[index] == td.rtmrs[index], "RTMR\(index)") }
        #expect(log.rtmrs[3] == [UInt8](repeating: 0, count: 48))
        #expect(td.rtmrs[3] == [UInt8](repeating: 0, count: 48))
    }

    @Test func damagedLogsAreRefused() throws {
        let bytes = try TDXFixture.bytes("ccel/ccel_data.dat")
        #expect(throws: TDXEventLog.Failure.self) { _ = try TDXEventLog(bytes: [UInt8](repeating: 0, count: 64)) }
        var other = bytes
        other[0x2E] = UInt8(ascii: "2")   // "Spec ID Event02": the SHA-1 log format
        #expect(throws: TDXEventLog.Failure.notSpecID) { _ = try TDXEventLog(bytes: other) }
        for length in [10, 40, 100, 500, 1500] {
            #expect(throws: TDXEventLog.Failure.self) { _ = try TDXEventLog(bytes: Array(bytes.prefix(length))) }
        }
        // One digest byte changed: the replay no longer matches.
        var changed = bytes
        let log = try TDXEventLog(bytes: bytes)
        let digest = log.events[3].sha384
        let at = try #require(bytes.firstRange(of: digest)).lowerBound
        changed[at] ^= 1
        #expect(try TDXEventLog(bytes: changed).rtmrs != log.rtmrs)
    }
}

@Suite struct CollateralTests {
    static func collateral(_ name: String) throws -> QuoteCollateral { try QuoteCollateral(json: TDXFixture.bytes(name)) }
    static func chain(_ quote: String) throws -> [Certificate] {
        try Certificate.parseBundle(DCAPQuote(bytes: TDXFixture.bytes(quote)).pckChainPEM)
    }

    /// Every vector's collateral is Intel's, current at the README's time, for the quote's FMSPC, and
    /// nothing in its chain is revoked (dcap-qvl's verdicts differ only in the TCB level, not checked yet).
    @Test(arguments: TDXFixture.vectors)
    func theCollateralIsAuthenticAndCurrent(vector: (quote: String, collateral: String, time: Int)) throws {
        let checks = CollateralVerifier.checks(pckChain: try Self.chain(vector.quote), collateral: try Self.collateral(vector.collateral),
                                               at: Date(timeIntervalSince1970: TimeInterval(vector.time)))
        let failed = checks.filter { !$0.passed }.map { "\($0.name): \($0.detail)" }
        #expect(failed.isEmpty, "\(failed)")
        #expect(Set(checks.map(\.name)) == ["tcb-info", "tcb-info-validity", "qe-identity", "qe-identity-validity", "root-crl", "pck-crl", "revocation", "tcb-info-fmspc"])
    }

    /// A day before the TCB info's issueDate (2025-06-19T10:16:03Z) and a day after its nextUpdate
    /// (2025-07-19T10:16:03Z): the messages dcap-qvl gives there. (Within the window, at the README's time
    /// plus or minus a day, dcap-qvl still says UpToDate.)
    @Test func outsideItsWindowTheCollateralIsRefusedAsDcapQvlRefusesIt() throws {
        let chain = try Self.chain("tdx_quote"), collateral = try Self.collateral("tdx_quote_collateral.json")
        let before = 1_750_328_163 - 86_400, after = 1_752_920_163 + 86_400
        let early = CollateralVerifier.checks(pckChain: chain, collateral: collateral, at: Date(timeIntervalSince1970: TimeInterval(before)))
        let late = CollateralVerifier.checks(pckChain: chain, collateral: collateral, at: Date(timeIntervalSince1970: TimeInterval(after)))
        #expect(early.first { $0.name == "tcb-info-validity" }?.detail.hasPrefix("TCBInfo issue date is in the future") == true)
        #expect(late.first { $0.name == "tcb-info-validity" }?.detail.hasPrefix("TCBInfo expired") == true)
        if TDXFixture.oraclePython != nil {
            let path = TDXFixture.url("tdx_quote").path, json = TDXFixture.url("tdx_quote_collateral.json").path
            let earlyOracle = try TDXFixture.oracle(["verify", path, json, String(before)])
            let lateOracle = try TDXFixture.oracle(["verify", path, json, String(after)])
            #expect((earlyOracle["error"] as? String)?.contains("TCBInfo issue date is in the future") == true, "\(earlyOracle)")
            #expect((lateOracle["error"] as? String)?.contains("TCBInfo expired") == true, "\(lateOracle)")
        }
    }

    @Test func tamperedOrForeignCollateralFails() throws {
        let chain = try Self.chain("tdx_quote")
        let time = Date(timeIntervalSince1970: 1_751_624_191)
        // Another platform's TCB info (the v5 sample's FMSPC 90C06F000000 is not this quote's B0C06F000000).
        let foreign = CollateralVerifier.checks(pckChain: chain, collateral: try Self.collateral("tdx_quote_outdated_collateral.json"),
                                                at: Date(timeIntervalSince1970: 1_772_707_803))
        #expect(foreign.first { $0.name == "tcb-info-fmspc" }?.passed == false)
        #expect(foreign.filter { !$0.passed }.map(\.name) == ["tcb-info-fmspc"], "both platforms' PCK CRLs come from the PCK Platform CA")
        // One character of the signed TCB info changed.
        var json = try JSONSerialization.jsonObject(with: Data(TDXFixture.bytes("tdx_quote_collateral.json"))) as! [String: Any]
        json["tcb_info"] = (json["tcb_info"] as! String).replacingOccurrences(of: "\"UpToDate\"", with: "\"UpToDatE\"")
        let tampered = try QuoteCollateral(json: Array(try JSONSerialization.data(withJSONObject: json)))
        let checks = CollateralVerifier.checks(pckChain: chain, collateral: tampered, at: time)
        #expect(checks.first { $0.name == "tcb-info" }?.passed == false)
        #expect(throws: QuoteCollateral.Failure.self) { _ = try QuoteCollateral(json: Array("{}".utf8)) }
        #expect(throws: QuoteCollateral.Failure.self) { _ = try QuoteCollateral(json: Array("not json".utf8)) }
    }

    @Test func thePCKExtensionGivesTheFMSPCDcapQvlReads() throws {
        for vector in TDXFixture.vectors {
            let pck = try PCKExtensions(try Self.chain(vector.quote)[0])
            #expect(pck.cpuSVN.count == 16 && pck.fmspc.count == 6 && pck.pceID.count == 2)
            if TDXFixture.oraclePython != nil {
                let parsed = try TDXFixture.oracle(["parse", TDXFixture.url(vector.quote).path])
                #expect(pck.fmspc.map { String(format: "%02X", $0) }.joined() == parsed["fmspc"] as? String)
            }
        }
    }
}

@Suite struct TCBLevelTests {
    /// The TCB level of each vector with its collateral equals dcap-qvl's verdict at the README's time:
    /// status and advisories, or the same refusal.
    @Test(.enabled(if: TDXFixture.oraclePython != nil || ProcessInfo.processInfo.environment["CI"] == "true", QuoteParsingTests.needsOracle),
          arguments: TDXFixture.vectors.filter { $0.quote != "tdx_quote_4.dat" })
    func theTCBLevelIsDcapQvls(vector: (quote: String, collateral: String, time: Int)) throws {
        let quote = try DCAPQuote(bytes: TDXFixture.bytes(vector.quote))
        let pck = try PCKExtensions(try Certificate.parseBundle(quote.pckChainPEM)[0])
        let collateral = try QuoteCollateral(json: TDXFixture.bytes(vector.collateral))
        let expected = try TDXFixture.oracle(["verify", TDXFixture.url(vector.quote).path, TDXFixture.url(vector.collateral).path, String(vector.time)])
        do {
            let standing = try TCBEvaluator.evaluate(quote, pck: pck, collateral: collateral)
            #expect(expected["ok"] as? Bool == true, "dcap-qvl refused: \(expected)")
            #expect(standing.status.rawValue == expected["status"] as? String)
            #expect(standing.advisories == (expected["advisories"] as? [String] ?? []))
        } catch let failure as TCBEvaluator.Failure {
            #expect(expected["ok"] as? Bool == false, "we refused (\(failure)), dcap-qvl did not: \(expected)")
            #expect((expected["error"] as? String)?.contains(failure.description) == true, "\(failure) vs \(expected)")
        }
    }

    @Test func statusesCombineToTheWorseWithEveryAdvisoryOnce() {
        let a = TCBStanding(status: .upToDate, advisories: ["INTEL-SA-1"])
        let b = TCBStanding(status: .outOfDate, advisories: ["INTEL-SA-1", "INTEL-SA-2"])
        #expect(a.combined(with: b) == TCBStanding(status: .outOfDate, advisories: ["INTEL-SA-1", "INTEL-SA-2"]))
        #expect(b.combined(with: a).status == .outOfDate)
        #expect(TCBStatus.revoked > .outOfDateConfigurationNeeded)
    }
}
