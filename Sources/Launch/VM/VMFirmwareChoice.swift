import Foundation
import HostProbe

/// The firmware a user asks for at `cvm vm create`, resolved once to concrete files.
public enum VMFirmwareChoice: Sendable, Hashable {
    /// SeaBIOS for a plain bundle, OVMF for everything else (disks, cloud images, SEV modes).
    case automatic
    case seabios
    case ovmf
    /// A firmware file: `*CODE*` images with a `*VARS*` sibling become pflash (except for SNP);
    /// anything else is loaded with -bios (an SNP or AmdSev OVMF.fd, or any BIOS image).
    case image(String)

    public init(argument: String) {
        switch argument.lowercased() {
        case "auto", "automatic": self = .automatic
        case "seabios": self = .seabios
        case "ovmf", "uefi": self = .ovmf
        default: self = .image(argument)
        }
    }

    /// Code/VARS pairs distributions ship, in order of preference (4 MiB variable stores first).
    static let pflashPairs = [("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"), ("OVMF_CODE.fd", "OVMF_VARS.fd")]
    /// Single images that SNP can load with -bios.
    static let statelessImages = ["OVMF.amdsev.fd", "AMDSEV.fd", "OVMF.fd"]

    public func resolve(mode: ConfidentialMode, isBundle: Bool,
                        directories: [String] = FirmwareDiscovery.searchDirectories) throws -> VMFirmware {
        let manager = FileManager.default
        switch self {
        case .automatic:
            return mode == .none && isBundle ? VMFirmware(kind: .seabios) : try VMFirmwareChoice.ovmf.resolve(mode: mode, isBundle: isBundle, directories: directories)
        case .seabios:
            guard !mode.isConfidential else {
                throw VMError.invalidInput("\(mode.rawValue) needs OVMF (UEFI); SeaBIOS cannot run confidential guests")
            }
            return VMFirmware(kind: .seabios)
        case .ovmf:
            if mode == .sevSNP {
                for directory in directories {
                    for name in Self.statelessImages where manager.fileExists(atPath: "\(directory)/\(name)") {
                        return VMFirmware(kind: .bios, image: "\(directory)/\(name)")
                    }
                }
                throw VMError.unsupportedHere("no stateless OVMF image (\(Self.statelessImages.joined(separator: ", "))) in \(directories.joined(separator: ", ")); give one with --firmware")
            }
            for directory in directories {
                for (code, vars) in Self.pflashPairs
                where manager.fileExists(atPath: "\(directory)/\(code)") && manager.fileExists(atPath: "\(directory)/\(vars)") {
                    return VMFirmware(kind: .ovmfPflash, image: "\(directory)/\(code)", varsTemplate: "\(directory)/\(vars)")
                }
            }
            throw VMError.unsupportedHere("no OVMF code and VARS pair in \(directories.joined(separator: ", ")) (apt-get install ovmf)")
        case .image(let given):
            let path = URL(fileURLWithPath: given).standardizedFileURL.path
            guard manager.isReadableFile(atPath: path) else { throw VMError.invalidInput("cannot read firmware \(given)") }
            let file = URL(fileURLWithPath: path)
            let name = file.lastPathComponent
            if mode != .sevSNP, let range = name.range(of: "CODE") {
                let vars = file.deletingLastPathComponent().appendingPathComponent(name.replacingCharacters(in: range, with: "VARS")).path
                if manager.fileExists(atPath: vars) {
                    return VMFirmware(kind: .ovmfPflash, image: path, varsTemplate: vars)
                }
            }
            return VMFirmware(kind: .bios, image: path)
        }
    }
}
