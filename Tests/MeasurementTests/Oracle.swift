import Foundation

/// sev-snp-measure (PyPI), the peer implementation every digest is compared against in the same run.
/// Found through $SEV_SNP_MEASURE or <package root>/.venv-oracle/bin/sev-snp-measure; install with
/// `python3 -m venv .venv-oracle && .venv-oracle/bin/pip install sev-snp-measure`.
enum Oracle {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static let executable: String? = {
        let candidates: [String?] = [ProcessInfo.processInfo.environment["SEV_SNP_MEASURE"],
                                     packageRoot.appendingPathComponent(".venv-oracle/bin/sev-snp-measure").path]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"
    /// Differential tests run when the oracle exists, and also when it is missing on CI so they fail there.
    static let shouldRun = executable != nil || isCI
    static let missingMessage = "sev-snp-measure not found (set SEV_SNP_MEASURE or run: python3 -m venv .venv-oracle && .venv-oracle/bin/pip install sev-snp-measure)"

    /// The Python interpreter the oracle's console script runs under (its shebang), so many cases can be
    /// computed by one process through the package's own `calc_launch_digest`.
    static var python: String? {
        guard let executable, let handle = FileHandle(forReadingAtPath: executable) else { return nil }
        defer { try? handle.close() }
        let head = String(decoding: handle.readData(ofLength: 256), as: UTF8.self)
        guard head.hasPrefix("#!"), let line = head.split(separator: "\n").first else { return nil }
        let interpreter = String(line.dropFirst(2)).trimmingCharacters(in: .whitespaces)
        return interpreter.contains("python") && !interpreter.contains(" ") ? interpreter : nil
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs a process and returns (status, stdout, stderr).
    static func run(_ executable: String, _ arguments: [String], input: Data? = nil) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(input) }
        try inPipe.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// Runs the sev-snp-measure command line once.
    static func cli(_ arguments: [String]) throws -> (Int32, String, String) {
        guard let executable else { throw Failure(description: missingMessage) }
        return try run(executable, arguments)
    }

    /// One oracle computation, in sev-snp-measure's own terms.
    struct Case: Codable {
        var mode: String // sev, seves, snp, snp:svsm, ovmf-hash
        var ovmf: String
        var vcpus: Int = 1
        var sig: UInt32 = 0
        var vmm: String = "QEMU"
        var features: UInt64 = 1
        var kernel: String?
        var initrd: String?
        var append: String?
        var ovmfHash: String?
        var svsm: String?
        var varsSize: UInt64 = 0
    }

    private static let driver = """
    import json, sys
    from sevsnpmeasure import guest
    from sevsnpmeasure.sev_mode import SevMode
    from sevsnpmeasure.vmm_types import VMMType
    for case in json.load(sys.stdin):
        try:
            if case["mode"] == "ovmf-hash":
                ld = guest.calc_snp_ovmf_hash(case["ovmf"])
            else:
                ld = guest.calc_launch_digest(SevMode.from_str(case["mode"]), case["vcpus"], case["sig"], case["ovmf"],
                    case.get("kernel"), case.get("initrd"), case.get("append"), case["features"],
                    case.get("ovmfHash") or "", VMMType[case["vmm"]], False, case.get("svsm") or "", case["varsSize"])
            print(ld.hex())
        except Exception as e:
            print("error: " + type(e).__name__ + ": " + str(e).replace("\\n", " "))
    """

    /// Computes every case in one Python process; each result is a hex digest or "error: ...".
    static func batch(_ cases: [Case]) throws -> [String] {
        guard let python else { throw Failure(description: missingMessage + " (or its interpreter could not be found)") }
        let input = try JSONEncoder().encode(cases)
        let (status, out, err) = try run(python, ["-c", driver], input: input)
        let lines = out.split(separator: "\n").map(String.init)
        guard status == 0, lines.count == cases.count else {
            throw Failure(description: "oracle batch failed (status \(status), \(lines.count)/\(cases.count) results): \(err.prefix(400))")
        }
        return lines
    }
}
