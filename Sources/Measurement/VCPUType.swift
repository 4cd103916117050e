/// A guest vCPU model. Its CPUID signature (Fn0000_0001_EAX) is what QEMU puts in RDX of every initial
/// VMSA, so it enters the SEV-ES and SNP measurements.
public struct VCPUType: Sendable, Hashable, CustomStringConvertible {
    /// The QEMU model name, or nil when the type was given by signature or family/model/stepping.
    public let name: String?
    public let signature: UInt32

    public init(signature: UInt32) {
        name = nil
        self.signature = signature
    }

    public init(family: Int, model: Int, stepping: Int) throws {
        guard (0...0x10E).contains(family), (0...0xFF).contains(model), (0...0xF).contains(stepping) else {
            throw MeasurementError.unknownVCPUType("family \(family) model \(model) stepping \(stepping)", known: ["family 0-270, model 0-255, stepping 0-15"])
        }
        name = nil
        signature = Self.signature(family: family, model: model, stepping: stepping)
    }

    /// Looks up a QEMU model name (case-insensitive).
    public init(named text: String) throws {
        guard let entry = Self.known.first(where: { $0.name?.lowercased() == text.lowercased() }) else {
            throw MeasurementError.unknownVCPUType(text, known: Self.known.compactMap(\.name))
        }
        name = entry.name
        signature = entry.signature
    }

    private init(name: String, family: Int, model: Int, stepping: Int) {
        self.name = name
        signature = Self.signature(family: family, model: model, stepping: stepping)
    }

    /// CPUID Fn0000_0001_EAX from family, model and stepping (AMD CPUID specification 25481): families
    /// above 0xF put 0xF in the base field and the rest in the extended field.
    public static func signature(family: Int, model: Int, stepping: Int) -> UInt32 {
        let baseFamily = family > 0xF ? 0xF : family
        let extendedFamily = family > 0xF ? (family - 0xF) & 0xFF : 0
        return UInt32(extendedFamily << 20 | ((model >> 4) & 0xF) << 16 | baseFamily << 8 | (model & 0xF) << 4 | (stepping & 0xF))
    }

    public var family: Int { Int((signature >> 8) & 0xF) + Int((signature >> 20) & 0xFF) }
    public var model: Int { Int((signature >> 16) & 0xF) << 4 | Int((signature >> 4) & 0xF) }
    public var stepping: Int { Int(signature & 0xF) }

    /// The AMD EPYC models QEMU defines (target/i386/cpu.c builtin_x86_defs) that can run SEV guests.
    public static let known: [VCPUType] = [
        VCPUType(name: "EPYC", family: 23, model: 1, stepping: 2),
        VCPUType(name: "EPYC-v1", family: 23, model: 1, stepping: 2),
        VCPUType(name: "EPYC-v2", family: 23, model: 1, stepping: 2),
        VCPUType(name: "EPYC-IBPB", family: 23, model: 1, stepping: 2),
        VCPUType(name: "EPYC-v3", family: 23, model: 1, stepping: 2),
        VCPUType(name: "EPYC-v4", family: 23, model: 1, stepping: 2),
        VCPUType(name: "EPYC-Rome", family: 23, model: 49, stepping: 0),
        VCPUType(name: "EPYC-Rome-v1", family: 23, model: 49, stepping: 0),
        VCPUType(name: "EPYC-Rome-v2", family: 23, model: 49, stepping: 0),
        VCPUType(name: "EPYC-Rome-v3", family: 23, model: 49, stepping: 0),
        VCPUType(name: "EPYC-Milan", family: 25, model: 1, stepping: 1),
        VCPUType(name: "EPYC-Milan-v1", family: 25, model: 1, stepping: 1),
        VCPUType(name: "EPYC-Milan-v2", family: 25, model: 1, stepping: 1),
        VCPUType(name: "EPYC-Genoa", family: 25, model: 17, stepping: 0),
        VCPUType(name: "EPYC-Genoa-v1", family: 25, model: 17, stepping: 0),
        VCPUType(name: "EPYC-Turin", family: 26, model: 0, stepping: 0),
    ]

    public var description: String { name ?? "0x" + String(signature, radix: 16) }
}

/// The VMM that creates the initial vCPU state; each sets a few registers differently.
public enum VMMType: String, Sendable, CaseIterable, Codable {
    case qemu, ec2, gce

    public init(parsing text: String) throws {
        guard let value = VMMType(rawValue: text.lowercased()) else {
            throw MeasurementError.unknownVMMType(text)
        }
        self = value
    }
}
