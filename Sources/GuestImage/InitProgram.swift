import Foundation

/// Finds guest/init/cvm-init.c and compiles it into a static executable with the host's gcc.
public enum InitProgram {
    public static let sourceName = "cvm-init.c"
    /// The attestation helper (/.cvm/attest), beside the init's source.
    public static let attestSourceName = "cvm-attest.c"
    static let sourceDirectory = "guest/init"

    /// The init source: `explicit`, else $CVM_INIT_SOURCE, else guest/init/cvm-init.c found by walking
    /// up from this source file's location (a checkout) or from the running executable.
    public static func locateSource(explicit: URL? = nil) throws -> URL {
        if let explicit { return explicit }
        if let fromEnvironment = ProcessInfo.processInfo.environment["CVM_INIT_SOURCE"], !fromEnvironment.isEmpty {
            return URL(fileURLWithPath: fromEnvironment)
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        for start in [URL(fileURLWithPath: #filePath), executable] {
            var directory = start.deletingLastPathComponent()
            while directory.path != "/" && !directory.path.isEmpty {
                let candidate = directory.appendingPathComponent(sourceDirectory).appendingPathComponent(sourceName)
                if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
                directory = directory.deletingLastPathComponent()
            }
        }
        throw GuestImageError.io("cannot find \(sourceDirectory)/\(sourceName); pass --init-source or set CVM_INIT_SOURCE")
    }

    /// The compiler's identity, recorded in manifests because it decides the init's bytes.
    public static func compilerVersion() throws -> String {
        let version = try Subprocess.run(["gcc", "--version"], hint: "apt-get install gcc libc6-dev")
        return version.split(separator: "\n").first.map(String.init) ?? "gcc"
    }

    /// `gcc -static -Os -s`, without build id or source paths, so the same compiler gives the same bytes.
    public static func compile(source: URL, to output: URL) throws {
        let directory = source.deletingLastPathComponent().path
        try Subprocess.run([
            "gcc", "-static", "-Os", "-s", "-Wall", "-Wextra",
            "-ffile-prefix-map=\(directory)=.", "-Wl,--build-id=none",
            "-o", output.path, source.path,
        ], hint: "apt-get install gcc libc6-dev")
    }

    /// The attestation helper's source: cvm-attest.c beside the init's source.
    public static func attestSource(besideInit initSource: URL) throws -> URL {
        let url = initSource.deletingLastPathComponent().appendingPathComponent(attestSourceName)
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            throw GuestImageError.io("cannot find \(attestSourceName) beside \(initSource.path)")
        }
        return url
    }

    /// The helper, static like the init, with OpenSSL's libcrypto for X25519, HKDF and AES-GCM.
    public static func compileAttestHelper(source: URL, to output: URL) throws {
        let directory = source.deletingLastPathComponent().path
        try Subprocess.run([
            "gcc", "-static", "-Os", "-s", "-Wall", "-Wextra",
            "-ffile-prefix-map=\(directory)=.", "-Wl,--build-id=none",
            "-o", output.path, source.path, "-lcrypto",
        ], hint: "apt-get install gcc libc6-dev libssl-dev")
    }
}
