import ArgumentParser
import AttestationPolicy
import Certificates
import DCAPQuote
import Foundation
import TDXAttestation

/// `cvm attest verify QUOTE`: an Intel DCAP quote (TDX or SGX) instead of an SNP report, told apart by
/// its header (version 3-5 with attestation key type 2 at offset 2).
extension AttestVerify {
    func runQuote(_ bytes: [UInt8]) throws {
        let quote: DCAPQuote
        do { quote = try DCAPQuote(bytes: bytes) } catch { throw CLIFailure.badInput("\(report): \(error)") }
        var policy = QuotePolicy()
        if let file = self.policy {
            let text = String(decoding: try AttestCLI.readFile(file, what: "policy"), as: UTF8.self)
            do { policy = try QuotePolicy.load(contentsOf: text) } catch { throw CLIFailure.badInput("\(file): \(error)") }
        }
        do {
            policy.reportData = try expectReportData.map { try [UInt8](hex: $0) } ?? policy.reportData
            policy.mrTD = try expectMrtd.map { try [UInt8](hex: $0, count: 48) } ?? policy.mrTD
            policy.minimumTEETCBSVN = try minTeeTcbSvn.map { try [UInt8](hex: $0, count: 16) } ?? policy.minimumTEETCBSVN
            for spec in expectRtmr {
                let parts = spec.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, let index = Int(parts[0]), (0...3).contains(index) else {
                    throw CLIFailure.badInput("--expect-rtmr '\(spec)': expected N=HEX with N 0-3")
                }
                policy.rtmrs[index] = try [UInt8](hex: String(parts[1]), count: 48)
            }
        } catch let failure as CLIFailure { throw failure } catch { throw CLIFailure.badInput("\(error)") }
        guard (policy.reportData?.count ?? 0) <= 64 else { throw CLIFailure.badInput("--expect-report-data: at most 64 bytes") }
        policy.allowDebug = allowDebug || policy.allowDebug
        let time = try AttestCLI.time(at)
        let root = try rootCa.map { try AttestCLI.loadCertificate($0) } ?? IntelRoot.certificate
        if let root, rootCa != nil, root.fingerprintSHA256.lowercased() != IntelRoot.fingerprintSHA256 {
            printError("warning: --root-ca: trusting \(IntelRoot.name(of: root)) instead of the pinned Intel SGX Root CA: a pass proves nothing about Intel hardware")
        }
        if let benchIterations {
            try benchQuote(bytes, at: time, policy: policy, iterations: benchIterations)
            return
        }
        var verdict = QuoteVerifier.verify(quote, at: time, policy: policy, root: root)
        if let collateral {
            let parsed: QuoteCollateral
            do { parsed = try QuoteCollateral(json: try AttestCLI.readFile(collateral, what: "collateral")) } catch let failure as CLIFailure {
                throw failure
            } catch { throw CLIFailure.badInput("\(collateral): \(error)") }
            let chain = (try? Certificate.parseBundle(quote.pckChainPEM)) ?? []
            var accepted: Set<TCBStatus> = [.upToDate]
            let named: [String] = policy.acceptedTCBStatuses + acceptTcbStatus.flatMap { $0.split(separator: ",").map(String.init) }
            for name in named {
                guard let status = TCBStatus(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw CLIFailure.badInput("--accept-tcb-status '\(name)': one of \(TCBStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                accepted.insert(status)
            }
            let tcb = QuoteVerifier.tcbLevelCheck(quote, pck: chain.first.flatMap { try? PCKExtensions($0) }, collateral: parsed, accepted: accepted)
            verdict = Verdict(product: verdict.product, signingKey: verdict.signingKey,
                              checks: verdict.checks + CollateralVerifier.checks(pckChain: chain, collateral: parsed, at: time, root: root) + [tcb])
        }
        if policy.mrTD == nil && policy.reportData == nil {
            printError("warning: no expected MRTD and no expected report data: a pass proves a genuine Intel \(quote.header.tee == .tdx ? "TD" : "enclave"), not which one")
        }
        if collateral == nil {
            printError("warning: no --collateral: the TCB info, QE identity and CRLs are not checked: the platform's TCB status and revocation are unknown")
        }
        if json {
            try printJSON(verdict)
        } else {
            print("quote: version \(quote.header.version), \(quote.body.name), QE SVN \(quote.header.qeSVN), PCE SVN \(quote.header.pceSVN)")
            for check in verdict.checks {
                print("\(check.passed ? "pass" : "FAIL")  \(check.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(check.detail)")
            }
            print(verdict.passed ? "verdict: PASS (\(verdict.checks.count) checks, \(verdict.product ?? "?"), \(collateral == nil ? "signatures only" : "signatures and collateral"))"
                                 : "verdict: FAIL (\(verdict.failures.count) of \(verdict.checks.count) checks failed)")
        }
        if !verdict.passed {
            throw CLIFailure.no(json ? "" : "verification failed: " + verdict.failures.map(\.name).joined(separator: ", "))
        }
    }

    /// In-process throughput for bench/attest/run.sh: the quote parsed and verified `iterations` times, with
    /// the collateral parsed once (cached) and checked every time, TCB level included.
    func benchQuote(_ bytes: [UInt8], at time: Date, policy: QuotePolicy, iterations: Int) throws {
        guard let collateral else { throw CLIFailure.badInput("--bench-iterations with a quote needs --collateral") }
        let parsed: QuoteCollateral
        do { parsed = try QuoteCollateral(json: try AttestCLI.readFile(collateral, what: "collateral")) } catch { throw CLIFailure.badInput("\(error)") }
        let accepted = Set(TCBStatus.allCases).subtracting([.revoked])
        let count = max(1, iterations)
        // Two ways a verifier runs: the collateral's signatures and CRLs checked with every quote (as
        // dcap-qvl's verify does), and checked once and cached, as a relying party holds it until its
        // nextUpdate; the quote's own signatures, policy and TCB level are checked every time in both.
        for cached in [false, true] {
            let firstChain = (try? DCAPQuote(bytes: bytes)).flatMap { try? Certificate.parseBundle($0.pckChainPEM) } ?? []
            let collateralOK = CollateralVerifier.checks(pckChain: firstChain, collateral: parsed, at: time).allSatisfy(\.passed)
            let start = DispatchTime.now().uptimeNanoseconds
            let cpuStart = Self.processCPUSeconds()
            var passed = 0
            for _ in 0..<count {
                guard let quote = try? DCAPQuote(bytes: bytes) else { continue }
                let verdict = QuoteVerifier.verify(quote, at: time, policy: policy)
                let chain = (try? Certificate.parseBundle(quote.pckChainPEM)) ?? []
                let collateralPassed = cached ? collateralOK : CollateralVerifier.checks(pckChain: chain, collateral: parsed, at: time).allSatisfy(\.passed)
                let tcb = QuoteVerifier.tcbLevelCheck(quote, pck: chain.first.flatMap { try? PCKExtensions($0) }, collateral: parsed, accepted: accepted)
                if verdict.passed && collateralPassed && tcb.passed { passed += 1 }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let cpu = Self.processCPUSeconds() - cpuStart
            print("collateral=\(cached ? "cached" : "every-quote") iterations=\(count) passed=\(passed) seconds=\(seconds) per_second=\(Double(count) / seconds) cpu_seconds=\(cpu) per_cpu_second=\(Double(count) / cpu)")
        }
    }
}

/// `cvm attest rtmr replay CCEL`: a TD's event log replayed into RTMR0–3.
struct AttestRTMR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rtmr",
        abstract: "Replay a TDX event log (CCEL) into RTMR0-3.",
        subcommands: [Replay.self]
    )

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay",
            abstract: "Replay a TDX guest's CCEL event log into RTMR0-3 and print them.",
            discussion: """
            Each event extends RTMR[index - 1] = SHA-384(RTMR ‖ its SHA-384 digest), from zero; compare \
            the result with the RTMRs of the TD's quote (cvm attest verify QUOTE --expect-rtmr N=HEX). \
            Inside a TD the log is /sys/firmware/acpi/tables/data/CCEL. With --events (and always in \
            --json, under "log") every measured event is listed with its RTMR, type, SHA-384 digest and \
            data, in the form `cvm measure --mode tdx --json` predicts them, so the two can be compared. \
            Examples:
              cvm attest rtmr replay /sys/firmware/acpi/tables/data/CCEL
              cvm attest rtmr replay ccel.bin --json
              cvm attest rtmr replay ccel.bin --events
            """
        )

        @Argument(help: "The event log (the CCEL ACPI table's log area).") var log: String
        @Flag(help: "Print JSON.") var json = false
        @Flag(help: "List every measured event (RTMR, type, digest, data).") var events = false

        struct Entry: Encodable {
            let rtmr: Int
            let type: String
            let description: String
            let digest: String
        }

        struct Output: Encodable {
            let events: Int
            let rtmr: [String]
            let log: [Entry]
        }

        func run() throws {
            let bytes = try AttestCLI.readFile(log, what: "event log")
            let replayed: TDXEventLog
            do { replayed = try TDXEventLog(bytes: bytes) } catch { throw CLIFailure.badInput("\(log): \(error)") }
            let rtmrs = replayed.rtmrs.map { $0.map { String(format: "%02x", $0) }.joined() }
            let log = replayed.events.compactMap { event in
                event.rtmr.map { Entry(rtmr: $0, type: event.typeName, description: event.summary,
                                       digest: event.sha384.map { String(format: "%02x", $0) }.joined()) }
            }
            if json {
                try printJSON(Output(events: replayed.events.count, rtmr: rtmrs, log: log))
                return
            }
            print("\(replayed.events.count) events")
            for (index, value) in rtmrs.enumerated() { print("RTMR\(index) \(value)") }
            if events {
                for entry in log { print("rtmr\(entry.rtmr) \(entry.type) \(entry.digest.prefix(16))… \(entry.description)") }
            }
        }
    }
}
