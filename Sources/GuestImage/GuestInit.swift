import Foundation

/// The contract between the host and cvm-init, the guest's PID 1 (guest/init/cvm-init.c, protocol in
/// guest/init/README.md): file locations inside the initramfs, the kernel command line keys, the
/// console markers and the exit-code channel.
public enum GuestInit {
    /// Version of the protocol below, printed by the init in its "init-start" marker.
    public static let version = "1"
    public static let configPath = ".cvm/config"
    public static let modulesPath = ".cvm/modules"
    /// The archive's last member; the init refuses to run without it (initramfs unpacked partially).
    public static let completionPath = ".cvm/complete"
    public static let markerPrefix = "cvm-init: "
    /// QEMU isa-debug-exit I/O port; QEMU exits with (code << 1) | 1.
    public static let exitPort = 0xf4
    /// The init's own failures: bad configuration, fork or user lookup failed.
    public static let initErrorCode: Int32 = 120
    /// The initramfs was not unpacked completely (usually: guest memory too small).
    public static let truncatedCode: Int32 = 121

    /// The kernel command line word that makes the init run `command` with the configured shell:
    /// `cvm.run="..."` when the command has no double quote or newline, else `cvm.run64=BASE64`.
    public static func runArgument(_ command: String) -> String {
        if command.contains("\"") || command.contains("\n") || command.contains("\\") {
            return "cvm.run64=" + Data(command.utf8).base64EncodedString()
        }
        return command.contains(" ") || command.contains("\t") ? "cvm.run=\"\(command)\"" : "cvm.run=\(command)"
    }

    /// The guest's exit code from QEMU's exit status when isa-debug-exit ended the run, nil otherwise
    /// (status 0 = powered off without the device; codes above 127 arrive modulo 128).
    public static func guestExitCode(fromQEMUStatus status: Int32) -> Int32? {
        status & 1 == 1 ? status >> 1 : nil
    }

    /// One "cvm-init: t=SECONDS EVENT key=value ..." line.
    public struct Marker: Sendable, Equatable {
        public let seconds: Double
        public let event: String
        public let fields: [String: String]

        /// Parses a console line; returns nil for lines that are not markers (kernel log, output).
        public static func parse(_ line: String) -> Marker? {
            guard let start = line.range(of: GuestInit.markerPrefix) else { return nil }
            var rest = Substring(line[start.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)[...]
            guard rest.hasPrefix("t="), let space = rest.firstIndex(of: " "), let seconds = Double(rest[rest.index(rest.startIndex, offsetBy: 2)..<space]) else { return nil }
            rest = rest[rest.index(after: space)...]
            let eventEnd = rest.firstIndex(of: " ") ?? rest.endIndex
            let event = String(rest[..<eventEnd])
            var fields: [String: String] = [:]
            var cursor = rest[eventEnd...].drop { $0 == " " }
            while let equals = cursor.firstIndex(of: "=") {
                let key = String(cursor[..<equals])
                var valueStart = cursor.index(after: equals)
                let value: Substring
                if valueStart < cursor.endIndex, cursor[valueStart] == "\"" {
                    valueStart = cursor.index(after: valueStart)
                    let close = cursor[valueStart...].firstIndex(of: "\"") ?? cursor.endIndex
                    value = cursor[valueStart..<close]
                    cursor = close < cursor.endIndex ? cursor[cursor.index(after: close)...] : cursor[close...]
                } else {
                    let end = cursor[valueStart...].firstIndex(of: " ") ?? cursor.endIndex
                    value = cursor[valueStart..<end]
                    cursor = cursor[end...]
                }
                fields[key] = String(value)
                cursor = cursor.drop { $0 == " " }
            }
            return Marker(seconds: seconds, event: event, fields: fields)
        }
    }

    /// Adds the init and its files to `tree`: the init at `initPath` (/init, where the kernel looks; a
    /// container image's root gets /.cvm/init and `rdinit=` instead), /.cvm/config, /.cvm/modules
    /// (absolute paths in load order), /dev/console (the kernel opens it for PID 1 before anything is
    /// mounted) and the mount points. Call `seal` after everything else has been added.
    public static func install(into tree: inout InitramfsTree, initBinary: URL, config: InitConfig,
                               modulePaths: [String], initPath: String = "init") throws {
        try tree.addFile(initPath, .file(initBinary), permissions: 0o755)
        try tree.addDirectory(".cvm", permissions: 0o755)
        try tree.addFile(configPath, .bytes(Array(config.rendered().utf8)))
        try tree.addFile(modulesPath, .bytes(Array(modulePaths.map { $0 + "\n" }.joined().utf8)))
        for directory in ["dev", "proc", "sys", "run"] where tree.entry(at: directory) == nil {
            try tree.addDirectory(directory)
        }
        if tree.entry(at: "tmp") == nil { try tree.addDirectory("tmp", permissions: 0o1777) }
        try tree.add(InitramfsEntry(path: "dev/console", kind: .characterDevice(major: 5, minor: 1), permissions: 0o600))
        try tree.add(InitramfsEntry(path: "dev/null", kind: .characterDevice(major: 1, minor: 3), permissions: 0o666))
    }

    /// Appends the completion marker as the archive's last member.
    public static func seal(_ tree: inout InitramfsTree) throws {
        let total = tree.count + 1
        try tree.addFinal(InitramfsEntry(path: completionPath, kind: .regularFile(.bytes(Array("entries=\(total)\n".utf8))), permissions: 0o644))
    }
}

/// What the init runs when the kernel command line names no command (`/.cvm/config`). Container images
/// fill it from the image config; the Linux guest uses a short system summary.
public struct InitConfig: Sendable, Equatable {
    /// Entrypoint followed by Cmd; argv[0] is looked up on the PATH of `environment`.
    public var arguments: [String]
    /// "NAME=value" strings; PATH, HOME and TERM get defaults when absent.
    public var environment: [String]
    /// Created if missing; default "/".
    public var workingDirectory: String?
    /// "user", "uid", "user:group" or "uid:gid", looked up in the guest's /etc/passwd and /etc/group.
    public var user: String?
    /// Device for the command's stdin/stdout/stderr, e.g. "ttyS1"; nil or "console" = /dev/console.
    public var console: String?
    /// Shell used for `cvm.run=` commands; default /bin/sh.
    public var shell: String?
    public var hostname: String?
    /// The relying party the init attests to before the command runs (`/.cvm/attest`, cvm-attest.c).
    public var attestation: AttestationTarget?

    public init(arguments: [String] = [], environment: [String] = [], workingDirectory: String? = nil, user: String? = nil,
                console: String? = nil, shell: String? = nil, hostname: String? = nil, attestation: AttestationTarget? = nil) {
        self.attestation = attestation
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
        self.console = console
        self.shell = shell
        self.hostname = hostname
    }

    /// The file format: "# comment", then one "key value" per line; values escape backslash, newline,
    /// tab and other control bytes as \\, \n, \t, \xHH.
    public func rendered() -> String {
        var lines = ["# cvm-init config, protocol \(GuestInit.version)"]
        lines += arguments.map { "argv " + Self.escape($0) }
        lines += environment.map { "env " + Self.escape($0) }
        let singles: [(String, String?)] = [("workdir", workingDirectory), ("user", user), ("console", console),
                                            ("shell", shell), ("hostname", hostname),
                                            ("attest-url", attestation?.url), ("attest-key", attestation?.relyingPartyKey)]
        for (key, value) in singles { if let value { lines.append("\(key) \(Self.escape(value))") } }
        return lines.joined(separator: "\n") + "\n"
    }

    static func escape(_ value: String) -> String {
        var out: [UInt8] = []
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out += Array("\\\\".utf8)
            case 0x0A: out += Array("\\n".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0..<0x20, 0x7F: out += Array(String(format: "\\x%02x", byte).utf8)
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Where a guest proves itself before its command runs: the relying party's URL (reached through QEMU
/// user networking, so http://10.0.2.2:PORT is the host's loopback) and its X25519 public key, which the
/// guest pins. Both sit in the measured initrd, so the launch measurement covers them.
public struct AttestationTarget: Sendable, Equatable, Codable {
    public var url: String
    /// 64 hex digits.
    public var relyingPartyKey: String

    /// Checks the forms the guest side accepts: http://IPv4[:port][/prefix] (the guest has no DNS) and a
    /// 32-byte key in hex.
    public init(url: String, relyingPartyKey: String) throws {
        let key = relyingPartyKey.lowercased()
        guard key.count == 64, key.allSatisfy({ $0.isHexDigit }) else {
            throw GuestImageError.invalidInput("relying-party key: expected 64 hex digits (cvm attest serve prints it), got '\(relyingPartyKey.prefix(80))'")
        }
        guard url.hasPrefix("http://") else {
            throw GuestImageError.invalidInput("attestation URL '\(url)': the guest speaks plain HTTP to an IPv4 address: http://A.B.C.D:PORT (10.0.2.2 is the host)")
        }
        let authority = url.dropFirst(7).split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
        let octets = parts.first?.split(separator: ".", omittingEmptySubsequences: false) ?? []
        let hostOK = octets.count == 4 && octets.allSatisfy { UInt8($0) != nil }
        let portOK = parts.count == 1 || (parts.count == 2 && (UInt16(parts[1]).map { $0 > 0 } ?? false))
        guard hostOK, portOK, url.count < 200, !url.contains(where: { $0.isWhitespace || $0 == "\"" }) else {
            throw GuestImageError.invalidInput("attestation URL '\(url)': expected http://A.B.C.D[:PORT][/PATH] (the guest has no DNS; 10.0.2.2 is the host)")
        }
        self.url = url
        self.relyingPartyKey = key
    }
}
