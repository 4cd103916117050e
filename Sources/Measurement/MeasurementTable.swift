/// One row of a reference-value table: a configuration and its expected launch digest.
public struct MeasurementRow: Sendable, Equatable {
    public let mode: LaunchMode
    /// Nil in modes where the field does not enter the digest (SEV, snp:ovmf-hash).
    public let configuration: VCPUConfiguration?
    public let digest: [UInt8]
}

/// The cross product a user asks for in one call, for example vCPUs 1-64 × two CPU models × two VMMs.
public struct MeasurementTableRequest: Sendable {
    public var vcpuCounts: [Int]
    public var vcpuTypes: [VCPUType?]
    public var vmms: [VMMType]
    public var guestFeatures: [UInt64]

    public init(vcpuCounts: [Int], vcpuTypes: [VCPUType?], vmms: [VMMType] = [.qemu], guestFeatures: [UInt64] = [0x1]) {
        self.vcpuCounts = vcpuCounts
        self.vcpuTypes = vcpuTypes.isEmpty ? [nil] : vcpuTypes
        self.vmms = vmms.isEmpty ? [.qemu] : vmms
        self.guestFeatures = guestFeatures.isEmpty ? [0x1] : guestFeatures
    }

    public var combinationCount: Int { vcpuCounts.count * vcpuTypes.count * vmms.count * guestFeatures.count }
}

extension LaunchMeasurer {
    /// Every combination of the request, ordered VMM, guest features, vCPU type, then vCPU count as
    /// given. Modes without vCPUs give one row. Modes that ignore guest features (SEV-ES uses 0,
    /// snp:svsm 0x1) collapse that dimension to the value they use.
    public func table(_ request: MeasurementTableRequest) throws -> [MeasurementRow] {
        guard mode.measuresVCPUs else {
            let digest = try digests(counts: [1], base: VCPUConfiguration(count: 1, type: nil))[1] ?? []
            return [MeasurementRow(mode: mode, configuration: nil, digest: digest)]
        }
        let features: [UInt64]
        switch mode {
        case .sevES: features = [0]
        case .snpSVSM: features = [0x1]
        default: features = request.guestFeatures.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
        }
        var rows: [MeasurementRow] = []
        rows.reserveCapacity(request.combinationCount)
        for vmm in request.vmms {
            for feature in features {
                for type in request.vcpuTypes {
                    let base = VCPUConfiguration(count: 1, type: type, vmm: vmm, guestFeatures: feature)
                    let results = try digests(counts: request.vcpuCounts, base: base)
                    for count in request.vcpuCounts {
                        var configuration = base
                        configuration.count = count
                        rows.append(MeasurementRow(mode: mode, configuration: configuration, digest: results[count] ?? []))
                    }
                }
            }
        }
        return rows
    }
}

/// Parses "4", "1-64", "1,2,4-8" into the listed vCPU counts, in order. A count beyond
/// `LaunchMeasurer.maxVCPUs` is refused as out of range (naming the limit), not as "not a number".
public func parseIntegerList(_ text: String) throws -> [Int] {
    var out: [Int] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        let piece = part.filter { $0 != " " }
        let bounds = try piece.split(separator: "-", omittingEmptySubsequences: false).map { bound in
            guard !bound.isEmpty, bound.allSatisfy({ ("0"..."9").contains($0) }) else { throw MeasurementError.invalidRange(text) }
            guard let value = Int(bound), value <= LaunchMeasurer.maxVCPUs else {
                throw MeasurementError.vcpuListOutOfRange(String(bound), max: LaunchMeasurer.maxVCPUs)
            }
            return value
        }
        if bounds.count == 1 {
            out.append(bounds[0])
        } else if bounds.count == 2, bounds[0] <= bounds[1] {
            out.append(contentsOf: bounds[0]...bounds[1])
        } else {
            throw MeasurementError.invalidRange(text)
        }
    }
    return out
}
