import Foundation
import HostOS

/// What the installed libvirt offers: its version, and what its domain capabilities say about SEV.
public struct LibvirtCapabilities: Sendable, Hashable, Codable {
    public var version: DottedVersion?
    /// Set when the daemon could not be asked for domain capabilities.
    public var connectError: String?
    /// The virt type whose domain capabilities were read (kvm, else qemu).
    public var virtType: String?
    public var sevSupported: Bool?
    public var cbitpos: Int?
    public var reducedPhysBits: Int?
    public var maxGuests: Int?
    public var maxESGuests: Int?

    /// `<launchSecurity type='sev-snp'>` exists from libvirt 10.5.
    public static let snpMinimumVersion = DottedVersion([10, 5])
    public var supportsSNPLaunchSecurity: Bool { (version ?? DottedVersion([0])) >= Self.snpMinimumVersion }

    public static func detect(using runner: any CommandRunner, uri: String = "qemu:///system") -> LibvirtCapabilities? {
        guard let versionOutput = runner.run(["virsh", "--version"], timeout: 20), versionOutput.status == 0 else { return nil }
        var result = LibvirtCapabilities(version: DottedVersion(parsing: versionOutput.stdout))
        var lastError: String?
        for virtType in ["kvm", "qemu"] {
            guard let output = runner.run(["virsh", "-c", uri, "domcapabilities", "--virttype", virtType, "--arch", "x86_64"], timeout: 30) else { break }
            if output.status == 0 {
                result.virtType = virtType
                result.apply(domainCapabilities: output.stdout)
                return result
            }
            lastError = output.stderr.split(separator: "\n").first.map { String($0) } ?? "virsh exited with \(output.status)"
        }
        result.connectError = lastError
        return result
    }

    init(version: DottedVersion?) {
        self.version = version
    }

    /// Reads `<sev supported='yes'>` and its children from domain capabilities XML.
    mutating func apply(domainCapabilities xml: String) {
        guard let range = xml.range(of: "<sev supported=") else { return }
        let tail = xml[range.upperBound...]
        sevSupported = tail.hasPrefix("'yes'") || tail.hasPrefix("\"yes\"")
        guard sevSupported == true, let end = tail.range(of: "</sev>") else { return }
        let body = String(tail[..<end.lowerBound])
        cbitpos = Self.integer(in: body, element: "cbitpos")
        reducedPhysBits = Self.integer(in: body, element: "reducedPhysBits")
        maxGuests = Self.integer(in: body, element: "maxGuests")
        maxESGuests = Self.integer(in: body, element: "maxESGuests")
    }

    static func integer(in body: String, element: String) -> Int? {
        guard let open = body.range(of: "<\(element)>"), let close = body.range(of: "</\(element)>", range: open.upperBound..<body.endIndex) else { return nil }
        return Int(String(body[open.upperBound..<close.lowerBound]).stripping(" \n\t"))
    }
}
