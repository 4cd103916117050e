import ArgumentParser
import SEVABI

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Decode and encode SEV (32-bit) and SEV-SNP (64-bit) guest policies.",
        subcommands: [Decode.self, Encode.self]
    )

    enum Kind: String, EnumerableFlag, Codable {
        case sev, snp
        static func help(for value: Kind) -> ArgumentHelp? {
            value == .sev ? "Treat the value as an SEV/SEV-ES policy (32 bits)." : "Treat the value as an SEV-SNP policy (64 bits)."
        }
    }

    /// The stable `--json` shape of a decoded policy.
    struct Report: Codable, Equatable {
        struct Flag: Codable, Equatable {
            let name: String
            let bit: Int
            let set: Bool
            let meaning: String
        }
        let kind: String
        let value: String
        let flags: [Flag]
        let apiMajor: Int?
        let apiMinor: Int?
        let abiMajor: Int?
        let abiMinor: Int?
        let warnings: [String]
    }

    static func report(sev policy: SEVPolicy) -> Report {
        Report(kind: "sev", value: policy.description,
               flags: flagRows(SEVPolicy.bits, set: policy.setBits),
               apiMajor: Int(policy.apiMajor), apiMinor: Int(policy.apiMinor), abiMajor: nil, abiMinor: nil,
               warnings: policy.warnings)
    }

    static func report(snp policy: SNPPolicy) -> Report {
        Report(kind: "snp", value: policy.description,
               flags: flagRows(SNPPolicy.bits, set: policy.setBits),
               apiMajor: nil, apiMinor: nil, abiMajor: Int(policy.abiMajor), abiMinor: Int(policy.abiMinor),
               warnings: policy.warnings)
    }

    private static func flagRows(_ bits: [PolicyBit], set: [PolicyBit]) -> [Report.Flag] {
        bits.map { .init(name: $0.name, bit: $0.bit, set: set.contains($0), meaning: $0.meaning) }
    }

    static func render(_ report: Report) -> String {
        var lines = ["\(report.kind.uppercased()) policy \(report.value)"]
        for flag in report.flags {
            let mark = flag.set ? "[x]" : "[ ]"
            lines.append("  \(mark) \(flag.name.padding(toLength: 22, withPad: " ", startingAt: 0)) bit \(String(flag.bit).padding(toLength: 3, withPad: " ", startingAt: 0)) \(flag.meaning)")
        }
        if let major = report.apiMajor, let minor = report.apiMinor {
            lines.append("  minimum firmware API: \(major).\(minor)")
        }
        if let major = report.abiMajor, let minor = report.abiMinor {
            lines.append("  minimum firmware ABI: \(major).\(minor)")
        }
        for warning in report.warnings { lines.append("  warning: \(warning)") }
        return lines.joined(separator: "\n")
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Name every bit of a policy value and reject invalid ones.",
            discussion: """
            Examples:
              cvm policy decode --snp 0x30000
              cvm policy decode --sev 0x07 --json
            Without --sev or --snp, a value with bit 17 set is read as SNP, any other as SEV.
            """
        )

        // Unrecognized words are collected too, so "-1" reaches the number check (one clear line)
        // instead of being read as an unknown option.
        @Argument(parsing: .allUnrecognized, help: "The policy value, decimal or 0x-prefixed hex.") var value: [String] = []
        @Flag var kind: Kind?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard value.count == 1 else {
                throw CLIFailure.badInput(value.isEmpty ? "policy decode needs one value, decimal or 0x-prefixed hex"
                                                        : "policy decode takes one value, found \(value.count): \(value.joined(separator: " "))")
            }
            guard let raw = parseUnsignedInteger(value[0], as: UInt64.self) else {
                throw CLIFailure.badInput(PolicyError.notANumber(value[0]).description)
            }
            let chosen = kind ?? (raw & SNPPolicy.mustBeOneBit != 0 ? .snp : .sev)
            let report: Report
            do {
                switch chosen {
                case .sev:
                    guard raw <= UInt64(UInt32.max) else {
                        throw CLIFailure.badInput("SEV policy is 32 bits; 0x\(String(raw, radix: 16)) does not fit")
                    }
                    report = PolicyCommand.report(sev: try SEVPolicy(rawValue: UInt32(raw)))
                case .snp:
                    report = PolicyCommand.report(snp: try SNPPolicy(rawValue: raw))
                }
            } catch let error as PolicyError {
                throw CLIFailure.badInput("invalid policy: \(error)")
            }
            if json { try printJSON(report) } else { print(PolicyCommand.render(report)) }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a policy value from flag names.",
            discussion: """
            Examples:
              cvm policy encode --snp --flags SMT
              cvm policy encode --snp --flags SMT,SINGLE_SOCKET \\
                  --abi-major 1 --abi-minor 51
              cvm policy encode --sev --flags NODBG,NOKS,ES
            SNP's reserved must-be-one bit 17 is always included.
            """
        )

        @Flag var kind: Kind = .snp
        @Option(parsing: .upToNextOption, help: "Flag names, comma or space separated (SEV: NODBG NOKS ES NOSEND DOMAIN SEV; SNP: SMT MIGRATE_MA DEBUG SINGLE_SOCKET CXL_ALLOW MEM_AES_256_XTS RAPL_DIS CIPHERTEXT_HIDING_DRAM PAGE_SWAP_DISABLE).")
        var flags: [String] = []
        @Option(help: "SNP: minimum ABI major version.") var abiMajor: UInt8 = 0
        @Option(help: "SNP: minimum ABI minor version.") var abiMinor: UInt8 = 0
        @Option(help: "SEV: minimum API major version.") var apiMajor: UInt8 = 0
        @Option(help: "SEV: minimum API minor version.") var apiMinor: UInt8 = 0
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let names = flags.flatMap { $0.split(separator: ",").map { String($0) } }.filter { !$0.isEmpty }
            let report: Report
            do {
                switch kind {
                case .sev: report = PolicyCommand.report(sev: try SEVPolicy(flags: names, apiMajor: apiMajor, apiMinor: apiMinor))
                case .snp: report = PolicyCommand.report(snp: try SNPPolicy(flags: names, abiMajor: abiMajor, abiMinor: abiMinor))
                }
            } catch let error as PolicyError {
                throw CLIFailure.badInput(error.description)
            }
            if json { try printJSON(report) } else {
                print(report.value)
                for warning in report.warnings { printError("warning: \(warning)") }
            }
        }
    }
}
