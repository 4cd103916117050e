/// Which kernel packages to fetch, from what apt offers. Debian names its kernel metapackage
/// linux-image-amd64; Ubuntu has none of that name but linux-image-virtual (the flavour for VMs) and
/// linux-image-generic, and keeps the modules of a kernel in a separate linux-modules-RELEASE package.
public struct KernelPackageChoice: Sendable, Equatable {
    /// Asked of apt in this order; the first with a candidate is used.
    public static let metapackages = ["linux-image-amd64", "linux-image-virtual", "linux-image-generic"]

    public var metapackage: String
    /// The versioned image package, e.g. linux-image-6.1.0-57-amd64.
    public var image: String
    /// The package holding lib/modules when the image package does not (Ubuntu), else nil.
    public var modules: String?

    /// `policy` and `depends` return what `apt-cache policy` and `apt-cache depends` print for a name.
    public static func choose(policy: (String) throws -> String, depends: (String) throws -> String) throws -> KernelPackageChoice {
        guard let metapackage = try metapackages.first(where: { DebianPackageCache.candidate(inPolicy: try policy($0)) != nil }) else {
            throw GuestImageError.packageNotFound("apt offers none of \(metapackages.joined(separator: ", ")) (run apt-get update, or give --kernel-version)")
        }
        guard let image = DebianPackageCache.dependency(inDepends: try depends(metapackage), prefix: "linux-image-") else {
            throw GuestImageError.packageNotFound("apt knows no linux-image-* dependency of \(metapackage) (run apt-get update, or give --kernel-version)")
        }
        return KernelPackageChoice(metapackage: metapackage, image: image, modules: modulesPackage(of: image, depends: try depends(image)))
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
