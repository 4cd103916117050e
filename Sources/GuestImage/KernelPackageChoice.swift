/// Which kernel packages to fetch, from what apt offers. Debian names its kernel metapackage
/// linux-image-amd64; Ubuntu has none of that name but linux-image-virtual (the flavour for VMs) and
/// linux-image-generic, and keeps the modules of a kernel in a separate linux-modules-RELEASE package.
public struct KernelPackageChoice: Sendable, Equatable {
    /// Asked of apt in this order; the first with a candidate is used.
    public static let metapackages = ["linux-image-amd64", "linux-image-virtual", "linux-image-generic"]
    /// Debian 12's metapackage of its 6.12 kernel (in the bookworm archive beside the default 6.1).
    public static let configfsTSMMetapackage = "linux-image-6.12-amd64"
    /// configfs-tsm (the report interface cvm-attest uses first) came with Linux 6.7.
    public static let configfsTSMSince = (6, 7)

    public var metapackage: String
    /// The versioned image package, e.g. linux-image-6.1.0-57-amd64.
    public var image: String
    /// The package holding lib/modules when the image package does not (Ubuntu), else nil.
    public var modules: String?

    /// `policy` and `depends` return what `apt-cache policy` and `apt-cache depends` print for a name.
    /// The default prefers a kernel with configfs-tsm and sev-guest, so an attested guest can fetch its
    /// report: the distribution's own metapackage when its kernel is 6.7 or newer (Debian 13), else
    /// Debian 12's linux-image-6.12-amd64, else the first metapackage apt has (Debian 12's 6.1 has only
    /// /dev/sev-guest; give --kernel-version to choose it on purpose).
    public static func choose(policy: (String) throws -> String, depends: (String) throws -> String) throws -> KernelPackageChoice {
        for name in metapackages {
            if let version = DebianPackageCache.candidate(inPolicy: try policy(name)), hasConfigfsTSM(version) {
                return try resolve(name, depends: depends)
            }
        }
        if DebianPackageCache.candidate(inPolicy: try policy(configfsTSMMetapackage)) != nil {
            return try resolve(configfsTSMMetapackage, depends: depends)
        }
        guard let metapackage = try metapackages.first(where: { DebianPackageCache.candidate(inPolicy: try policy($0)) != nil }) else {
            throw GuestImageError.packageNotFound("apt offers none of \(metapackages.joined(separator: ", ")) (run apt-get update, or give --kernel-version)")
        }
        return try resolve(metapackage, depends: depends)
    }

    static func resolve(_ metapackage: String, depends: (String) throws -> String) throws -> KernelPackageChoice {
        guard let image = DebianPackageCache.dependency(inDepends: try depends(metapackage), prefix: "linux-image-") else {
            throw GuestImageError.packageNotFound("apt knows no linux-image-* dependency of \(metapackage) (run apt-get update, or give --kernel-version)")
        }
        return KernelPackageChoice(metapackage: metapackage, image: image, modules: modulesPackage(of: image, depends: try depends(image)))
    }

    /// Whether a kernel package version (6.12.118-1~deb12u1, 6.1.192-3, 6.8.0-151.151) is 6.7 or newer.
    public static func hasConfigfsTSM(_ version: String) -> Bool {
        let numbers = version.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard numbers.count == 2 else { return false }
        return (numbers[0], numbers[1]) >= configfsTSMSince
    }

    /// For a release the user named: Debian's flavour suffix is added when the release has none.
    public static func given(release: String, policy: (String) throws -> String, depends: (String) throws -> String) throws -> KernelPackageChoice {
        let bare = release.hasPrefix("linux-image-") ? String(release.dropFirst("linux-image-".count)) : release
        // "6.1.0-57" has no flavour; "6.1.0-57-amd64" and "6.8.0-151-generic" end in one.
        let hasFlavour = bare.split(separator: "-").last?.contains { $0.isLetter } == true
        let flavoured = hasFlavour ? bare : bare + "-amd64"
        let image = "linux-image-" + flavoured
        return KernelPackageChoice(metapackage: image, image: image, modules: modulesPackage(of: image, depends: try depends(image)))
    }

    /// linux-modules-RELEASE when the image package depends on it (Ubuntu's split).
    static func modulesPackage(of image: String, depends output: String) -> String? {
        let release = image.dropFirst("linux-image-".count)
        return DebianPackageCache.dependency(inDepends: output, prefix: "linux-modules-\(release)")
    }
}
