import ArgumentParser
import AttestationPolicy
import Foundation
import KDS
import RelyingParty
import RelyingPartyServer

/// `cvm attest serve`: the relying party that attested container guests talk to.
struct AttestServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the relying party: verify guests' SEV-SNP evidence over HTTP and release secrets to those that pass.",
        discussion: """
        The flow follows Trustee KBS (POST /kbs/v0/auth → nonce, POST /kbs/v0/attest → verdict, GET \
        /kbs/v0/resource/default/secret/NAME → the secret sealed to the guest's key). A guest passes only \
        with a report signed by AMD (chain from its certificate table or KDS), REPORT_DATA = \
        SHA-512(nonce ‖ the guest's X25519 key), a measurement the policy or a bundle names, and the \
        policy's report rules (DEBUG refused unless allowed, minimum TCB, VMPL, ...). Nonces are single \
        use and sessions expire. Every decision is one JSON line on stderr (or --log FILE). Run it \
        where the host cannot reach: the host is not trusted.

        The relying party's X25519 key is created 0600 in --key on first use; its public half is printed \
        at start and pinned in the guest (cvm run IMAGE --attest URL fetches it from /kbs/v0/public-key \
        when building the guest, and the launch measurement then covers it).

        Examples:
          cvm attest serve --bundle app-guest --secret db-password=./pw.txt
          cvm attest serve --listen 0.0.0.0:8443 --policy rp.yaml \\
              --secret tls.key=./key.pem --log decisions.jsonl
        Policy file (YAML or JSON): measurements: [HEX…], allowUncoveredKernel, chain (report|kds|auto), \
        kdsCache, offline, sessionTimeout, and report: with the keys of cvm attest verify --policy.
        """
    )

    @Option(help: "Address to listen on: HOST:PORT or :PORT (default 127.0.0.1:8080; QEMU user networking reaches the host's loopback as 10.0.2.2).") var listen = "127.0.0.1:8080"
    @Option(help: "Policy file (YAML or JSON).") var policy: String?
    @Option(help: "A guest bundle whose manifest's SEV-SNP measurements are accepted (repeatable).") var bundle: [String] = []
    @Option(help: "A secret to release: NAME=FILE (repeatable; NAME is 1-64 of A-Z a-z 0-9 . _ -).") var secret: [String] = []
    @Option(help: "The relying party's X25519 key file (created 0600 when missing; default ~/.config/cvm/relying-party.key).") var key: String?
    @Option(help: "Append decision lines to this file instead of stderr.") var log: String?
    @Option(help: "KDS cache directory (overrides the policy's kdsCache).") var kdsCache: String?
    @Flag(help: "Never contact KDS; answer from its cache only.") var offline = false
    @Option(help: "Close connections idle for this many seconds.") var idleTimeout: Double = 10
    @Flag(help: "Print the relying party's public key (hex) and exit.") var printKey = false

    static func parseListen(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw CLIFailure.badInput("--listen '\(text)': expected HOST:PORT or :PORT")
        }
        let host = String(text[..<colon])
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    static var defaultKeyFile: URL {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: env["HOME"] ?? "/root").appendingPathComponent(".config")
        return base.appendingPathComponent("cvm/relying-party.key")
    }

    static func loadSecrets(_ specs: [String]) throws -> [String: [UInt8]] {
        var secrets: [String: [UInt8]] = [:]
        for spec in specs {
            guard let equals = spec.firstIndex(of: "=") else { throw CLIFailure.badInput("--secret '\(spec)': expected NAME=FILE") }
            let name = String(spec[..<equals]), file = String(spec[spec.index(after: equals)...])
            guard RelyingParty.validSecretName(name) else { throw CLIFailure.badInput("--secret '\(name)': use 1-64 of A-Z a-z 0-9 . _ -") }
            guard secrets[name] == nil else { throw CLIFailure.badInput("--secret '\(name)' given twice") }
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIFailure.badInput("--secret \(name): cannot read \(file)") }
            guard data.count <= 32 * 1024 else { throw CLIFailure.badInput("--secret \(name): \(file) is larger than 32 KiB") }
            secrets[name] = Array(data)
        }
        return secrets
    }

    func run() async throws {
        let keyFile = key.map { URL(fileURLWithPath: $0) } ?? Self.defaultKeyFile
        let privateKey: RelyingPartyKeyPair
        do { privateKey = RelyingPartyKeyPair(try RelyingPartyKey.loadOrCreate(at: keyFile)) } catch {
            throw CLIFailure.badInput("\(error)")
        }
        if printKey {
            print(privateKey.publicHex)
            return
        }
        let (host, port) = try Self.parseListen(listen)
        var rules = RelyingPartyPolicy()
        if let policy {
            guard let text = try? String(contentsOfFile: policy, encoding: .utf8) else { throw CLIFailure.badInput("cannot read policy \(policy)") }
            do { rules = try RelyingPartyPolicy.load(contentsOf: text) } catch { throw CLIFailure.badInput("\(policy): \(error)") }
        }
        for directory in bundle {
            do { rules.launches += try RelyingPartyPolicy.launches(fromBundle: URL(fileURLWithPath: directory)) } catch {
                throw CLIFailure.badInput("--bundle \(directory): \(error)")
            }
        }
        if let kdsCache { rules.kdsCache = kdsCache }
        if offline { rules.offline = true }
        let secrets = try Self.loadSecrets(secret)
        let sink = try DecisionSink(path: log)
        let kds = KDSClient(cacheDirectory: rules.kdsCache.map { URL(fileURLWithPath: $0) } ?? KDSClient.defaultCacheDirectory,
                            offline: rules.offline)
        let party: RelyingParty
        do {
            party = try RelyingParty(policy: rules, secrets: secrets, key: privateKey.key, kds: kds, log: { sink.write($0.jsonLine) })
        } catch { throw CLIFailure.badInput("\(error)") }
        if rules.launches.isEmpty {
            printError("cvm attest serve: warning: no accepted measurement (give --bundle DIR or measurements: in --policy): every guest will be refused")
        }
        for launch in rules.launches where !launch.coversKernel {
            printError("cvm attest serve: \(launch.origin): kernel, initrd and cmdline not covered by its measurement; \(rules.allowUncoveredKernel ? "allowed by the policy" : "refused unless the policy sets allowUncoveredKernel")")
        }
        let summary = "\(rules.launches.count) accepted measurement(s), \(secrets.count) secret(s), chain \(rules.chain.rawValue)\(rules.offline ? ", KDS offline" : "")"
        let server = RelyingPartyServer(party: party, host: host, port: port, idleTimeout: .milliseconds(Int(idleTimeout * 1000)))
        try await server.run { bound in
            printError("cvm attest serve: listening on http://\(host):\(bound) (\(summary))")
            printError("cvm attest serve: public key \(privateKey.publicHex) (guests pin it; key file \(keyFile.path))")
        }
    }
}

/// The key with its public half in hex, for printing.
struct RelyingPartyKeyPair: @unchecked Sendable {
    let key: RelyingPartyKey.PrivateKey
    init(_ key: RelyingPartyKey.PrivateKey) { self.key = key }
    var publicHex: String { key.publicKey.rawRepresentation.map { String(format: "%02x", $0) }.joined() }
}

/// Where decision lines go: stderr, or a file opened for appending.
final class DecisionSink: @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()

    init(path: String?) throws {
        guard let path else {
            handle = FileHandle.standardError
            return
        }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw CLIFailure.badInput("--log: cannot create \(path)")
            }
        }
        guard let opened = FileHandle(forWritingAtPath: path) else { throw CLIFailure.badInput("--log: cannot open \(path)") }
        opened.seekToEndOfFile()
        handle = opened
    }

    func write(_ line: String) {
        lock.withLock { handle.write(Data((line + "\n").utf8)) }
    }
}
