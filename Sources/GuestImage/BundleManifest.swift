import Foundation

/// `manifest.json` of a guest bundle. Encoded with sorted keys and no timestamps or host paths, so the
/// same inputs give the same bytes.
public struct BundleManifest: Codable, Sendable, Equatable {
    public static let formatName = "cvmkit-guest-bundle"
    public static let currentFormatVersion = 1

    /// How to boot the bundle: what the init expects from the virtual machine.
    public struct Boot: Codable, Sendable, Equatable {
        /// "linux": a bzImage booted with -kernel/-initrd/-append (QEMU's Linux loader or OVMF).
        public var protocolName: String
        /// Serial device carrying the kernel log and the init's markers.
        public var console: String
        /// Serial device the command's own stdio uses when the host provides it ("console" = same as above).
        public var appConsole: String
        /// Where the exit code goes: QEMU isa-debug-exit at this I/O port; QEMU's status is (code << 1) | 1.
        public var exitDevice: String
        public var exitPort: Int
        /// Smallest guest memory the bundle is expected to boot in, in MiB.
        public var minimumMemoryMiB: Int

        public init(protocolName: String = "linux", console: String = "ttyS0", appConsole: String = "console",
                    exitDevice: String = "isa-debug-exit", exitPort: Int = 0xf4, minimumMemoryMiB: Int) {
            self.protocolName = protocolName
            self.console = console
            self.appConsole = appConsole
            self.exitDevice = exitDevice
            self.exitPort = exitPort
            self.minimumMemoryMiB = minimumMemoryMiB
        }

        enum CodingKeys: String, CodingKey {
            case protocolName = "protocol", console, appConsole, exitDevice, exitPort, minimumMemoryMiB
        }
    }

    /// One input the bundle was built from, identified by content.
    public struct Input: Codable, Sendable, Equatable {
        public var name: String
        public var version: String?
        public var sha256: String
        public var origin: String

        public init(name: String, version: String? = nil, sha256: String, origin: String) {
            self.name = name
            self.version = version
            self.sha256 = sha256
            self.origin = origin
        }
    }

    /// How the bundle was made.
    public struct Build: Codable, Sendable, Equatable {
        /// The command that made it, e.g. "cvm image build linux".
        public var command: String
        public var tool: String
        public var steps: [String]
        public var inputs: [Input]

        public init(command: String, tool: String, steps: [String], inputs: [Input]) {
            self.command = command
            self.tool = tool
            self.steps = steps
            self.inputs = inputs
        }
    }

    public var format: String
    public var formatVersion: Int
    /// "linux", "oci", "unikernel", ...
    public var kind: String
    public var parts: [String: PartDigest]
    public var cmdline: String
    /// Component versions: kernel release, package versions, init protocol version, compiler.
    public var versions: [String: String]
    public var boot: Boot
    public var build: Build
    /// Kernel modules in the initramfs, in load order (empty for non-Linux kinds).
    public var modules: [String]
    /// Requested modules the kernel does not have (neither built in nor as a module).
    public var modulesUnavailable: [String]
    /// Free-form facts added by other builders (an image digest, measurement notes), sorted on output.
    public var annotations: [String: String]
    /// The container image an "oci" bundle was built from; absent for other kinds and older manifests.
    public var image: ContainerImageRecord?
    /// Whether the launch measurement covers kernel, initrd and cmdline, and the expected digests when it
    /// does; absent in older manifests.
    public var launchMeasurement: LaunchMeasurementRecord?

    public init(kind: String, cmdline: String = "", versions: [String: String], boot: Boot, build: Build,
                modules: [String] = [], modulesUnavailable: [String] = [], annotations: [String: String] = [:],
                image: ContainerImageRecord? = nil, launchMeasurement: LaunchMeasurementRecord? = nil) {
        format = Self.formatName
        formatVersion = Self.currentFormatVersion
        self.kind = kind
        parts = [:]
        self.cmdline = cmdline
        self.versions = versions
        self.boot = boot
        self.build = build
        self.modules = modules
        self.modulesUnavailable = modulesUnavailable
        self.annotations = annotations
        self.image = image
        self.launchMeasurement = launchMeasurement
    }

    /// Deterministic JSON: sorted keys, pretty-printed, trailing newline.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(0x0A)
        return data
    }
}
