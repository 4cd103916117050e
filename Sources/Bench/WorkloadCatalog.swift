import Foundation

/// The workloads `cvm bench` knows and the words that start them. The unikernel and `cvm-workloads`
/// (the same code as a static Linux process) read the same words, so both guests run the same
/// workloads with the same parameters and the unikernel/Linux ratio compares like with like.
public enum WorkloadCatalog {
    /// "boot" measures the boot itself (every run does; alone it runs `run=noop`).
    /// "attest" times SNP report retrieval (unavailable outside SEV-SNP, so not in the defaults).
    public static let names = ["boot", "stream", "chase", "sha256", "ep", "exits", "touch", "attest"]

    /// The guest's defaults (UnikernelCore BootOptions), written out so every run says what it ran.
    public static let defaultParameters: [String: String] = [
        "stream.size": "4M", "stream.reps": "3",
        "chase.size": "8M", "chase.steps": "1M",
        "sha256.size": "1M",
        "ep.m": "16",
        "exits.iters": "10000",
        "touch.pages": "1024",
        "attest.reps": "10",
    ]

    public static func validate(_ parameters: [String: String]) throws {
        for (key, value) in parameters {
            guard defaultParameters[key] != nil else {
                throw BenchError.badInput("unknown workload parameter '\(key)' (expected \(defaultParameters.keys.sorted().joined(separator: ", ")))")
            }
            let digits = value.last.map { "KMGkmg".contains($0) } == true ? value.dropLast() : Substring(value)
            guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else {
                throw BenchError.badInput("workload parameter \(key)=\(value): expected a whole number, optionally with K, M or G")
            }
        }
    }

    /// The measuring workloads of `workloads` in catalog order ("boot" excluded).
    public static func measured(_ workloads: [String]) -> [String] {
        names.filter { $0 != "boot" && workloads.contains($0) }
    }

    /// "boot+stream+chase": the workload-set part of a run ID.
    public static func setName(_ workloads: [String]) -> String {
        workloads.joined(separator: "+")
    }

    /// `run=stream,chase stream.size=4M …`: the kernel command line of the unikernel and the
    /// arguments of cvm-workloads. Every parameter is given, in a stable order.
    public static func guestWords(_ workloads: [String], parameters: [String: String]) -> String {
        let measured = measured(workloads)
        let values = defaultParameters.merging(parameters) { $1 }
        let run = "run=" + (measured.isEmpty ? "noop" : measured.joined(separator: ","))
        return ([run] + values.keys.sorted().map { "\($0)=\(values[$0] ?? "")" }).joined(separator: " ")
    }
}
