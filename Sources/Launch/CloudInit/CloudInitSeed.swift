import Foundation
import HostOS
import HostProbe

/// A cloud-init NoCloud seed: an ISO 9660 image labelled `cidata` holding `user-data`, `meta-data`
/// and, optionally, `network-config` (cloud-init's NoCloud datasource looks for exactly that label).
/// The image is made by xorriso in its genisoimage emulation, with Joliet and Rock Ridge names so
/// every guest sees the file names unchanged.
public struct CloudInitSeed: Sendable, Hashable {
    public static let volumeLabel = "cidata"
    public static let userDataFile = "user-data"
    public static let metaDataFile = "meta-data"
    public static let networkConfigFile = "network-config"

    /// cloud-init reruns its per-instance modules whenever this changes.
    public var instanceID: String
    public var hostname: String
    public var userData: CloudInitUserData
    /// Network configuration (version 1 or 2 YAML), passed through unchanged.
    public var networkConfig: String?

    public init(instanceID: String, hostname: String, userData: CloudInitUserData, networkConfig: String? = nil) throws {
        guard Self.isValidHostname(hostname) else { throw CloudInitError.invalidHostname(hostname) }
        guard !instanceID.isEmpty, instanceID.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw CloudInitError.invalidUserData("instance-id '\(instanceID)' must be non-empty letters, digits, '-', '_' or '.'")
        }
        if let networkConfig {
            guard networkConfig.contains("version:") else {
                throw CloudInitError.invalidNetworkConfig("network-config has no 'version:' key (cloud-init wants version 1 or 2)")
            }
        }
        self.instanceID = instanceID
        self.hostname = hostname
        self.userData = userData
        self.networkConfig = networkConfig
    }

    /// The `meta-data` document: instance-id and local-hostname.
    public var metaData: String {
        "instance-id: \(instanceID)\nlocal-hostname: \(hostname)\n"
    }

    /// RFC 1123 labels: letters, digits and inner hyphens, at most 63 characters.
    public static func isValidHostname(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 63, name.first != "-", name.last != "-" else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
    }

    /// A host name made from any VM name: other characters become '-', at most 63 characters.
    public static func hostname(from name: String) -> String {
        let mapped = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "-" }.prefix(63))
        let trimmed = mapped.drop(while: { $0 == "-" })
        var result = String(trimmed)
        while result.last == "-" { result.removeLast() }
        return result.isEmpty ? "cvm-guest" : result
    }

    /// Writes the seed's files into `sourceDirectory` (mode 0600: user-data often carries passwords and
    /// keys) and builds the ISO at `isoPath` from them.
    public func write(sourceDirectory: URL, isoPath: URL, runner: any CommandRunner = ProcessRunner()) throws {
        var files = [(Self.userDataFile, userData.text), (Self.metaDataFile, metaData)]
        if let networkConfig { files.append((Self.networkConfigFile, networkConfig)) }
        try FileManager.default.createDirectory(at: sourceDirectory, withIntermediateDirectories: true)
        var graftPoints: [String] = []
        for (name, contents) in files {
            let url = sourceDirectory.appendingPathComponent(name)
            try AtomicFile.write(Data(contents.utf8), to: url, mode: 0o600)
            graftPoints.append("\(name)=\(url.path)")
        }
        let temporary = isoPath.deletingLastPathComponent().appendingPathComponent(".\(isoPath.lastPathComponent).tmp")
        try? FileManager.default.removeItem(at: temporary)
        let arguments = ["xorriso", "-as", "genisoimage", "-output", temporary.path, "-volid", Self.volumeLabel,
                         "-joliet", "-rock", "-graft-points"] + graftPoints
        guard let output = runner.run(arguments, timeout: 60) else { throw CloudInitError.toolMissing("xorriso") }
        guard output.status == 0, !output.timedOut else {
            try? FileManager.default.removeItem(at: temporary)
            throw CloudInitError.toolFailed(tool: "xorriso", status: output.status, message: output.stderr)
        }
        guard chmod(temporary.path, 0o600) == 0, rename(temporary.path, isoPath.path) == 0 else {
            throw CloudInitError.io("cannot move the seed into place at \(isoPath.path): \(String(cString: strerror(errno)))")
        }
    }
}
