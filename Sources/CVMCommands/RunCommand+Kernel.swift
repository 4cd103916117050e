import ArgumentParser
import Foundation
import Launch

/// `cvm run` options for third-party kernels and disk images: boot protocols and presets.
struct KernelLaunchOptions: ParsableArguments {
    @Option(help: "Boot protocol of --kernel: linux, pvh, multiboot or efi (default: read from the file).")
    var bootProtocol: BootProtocol?
    @Option(help: "A disk image (raw or qcow2) to boot through the firmware: SeaBIOS, or OVMF for confidential modes or --firmware ovmf. The image is not written: the guest's writes go to a temporary snapshot unless --writable.")
    var disk: String?
    @Option(help: "Format of --disk: raw or qcow2 (default: from the image's header).")
    var diskFormat: String?
    @Flag(help: "Let the guest write to the --disk image itself.")
    var writable = false
    @Option(help: "Machine, firmware, CPU and device defaults for unikraft, hermit, nanos or osv images; `list` prints the table.")
    var preset: String?

    init() {}

    /// True when any of these options asks for the kernel/disk path of `cvm run`.
    var isSet: Bool { bootProtocol != nil || disk != nil || diskFormat != nil || preset != nil }
}

extension BootProtocol: ExpressibleByArgument {}
extension UnikernelBoot: ExpressibleByArgument {}

extension RunCommand {
    /// `cvm run --preset list`: prints the preset table instead of running anything.
    func listPresetsIfAsked() throws -> Bool {
        guard kernelOptions.preset == "list" else { return false }
        print(GuestPreset.table())
        return true
    }

    func presetChoice() throws -> GuestPreset? {
        guard let name = kernelOptions.preset else { return nil }
        guard let preset = GuestPreset(rawValue: name.lowercased()) else {
            throw CLIFailure.badInput("unknown --preset '\(name)' (\(GuestPreset.allCases.map(\.rawValue).joined(separator: ", ")), or list)")
        }
        return preset
    }
}
