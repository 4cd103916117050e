import AttestationPolicy
import DCAPQuote
import SEVABI
import Foundation

/// Intel's TCB statuses, from best to worst (the worse of two wins when they are combined).
public enum TCBStatus: String, Sendable, CaseIterable, Comparable {
    case upToDate = "UpToDate"
    case swHardeningNeeded = "SWHardeningNeeded"
    case configurationNeeded = "ConfigurationNeeded"
    case configurationAndSWHardeningNeeded = "ConfigurationAndSWHardeningNeeded"
    case outOfDate = "OutOfDate"
    case outOfDateConfigurationNeeded = "OutOfDateConfigurationNeeded"
    case revoked = "Revoked"

    var severity: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    public static func < (a: TCBStatus, b: TCBStatus) -> Bool { a.severity < b.severity }
}

/// A status with its advisories; combining keeps the worse status and every advisory once, in order.
public struct TCBStanding: Sendable, Equatable {
    public var status: TCBStatus
    public var advisories: [String]

    func combined(with other: TCBStanding) -> TCBStanding {
        var ids = advisories
        for id in other.advisories where !ids.contains(id) { ids.append(id) }
        return TCBStanding(status: max(status, other.status), advisories: ids)
    }
}

/// The parts of Intel's TCB info and QE identity JSON that decide a quote's TCB level.
struct TCBInfoLevels: Decodable {
    struct Component: Decodable { var svn: UInt8 }
    struct Level: Decodable {
        struct TCB: Decodable {
            var sgxtcbcomponents: [Component]
            var tdxtcbcomponents: [Component]?
            var pcesvn: Int
        }
        var tcb: TCB
        var tcbStatus: String
        var advisoryIDs: [String]?
    }
    struct Module: Decodable {
        var mrsigner: String
        var attributes: String
        var attributesMask: String
    }
    struct ModuleIdentity: Decodable {
        var id: String
        var mrsigner: String
        var attributes: String
        var attributesMask: String
        var tcbLevels: [ISVSVNLevel]
    }
    var id: String?
    var version: Int
    var tcbLevels: [Level]
    var tdxModule: Module?
    var tdxModuleIdentities: [ModuleIdentity]?
}

/// A TCB level chosen by one ISVSVN: the TDX module identities' and the QE identity's.
struct ISVSVNLevel: Decodable {
    struct TCB: Decodable { var isvsvn: Int }
    var tcb: TCB
    var tcbStatus: String
    var advisoryIDs: [String]?
}

struct QEIdentityPolicy: Decodable {
    var mrsigner: String
    var isvprodid: Int
    var miscselect: String
    var miscselectMask: String
    var attributes: String
    var attributesMask: String
    var tcbLevels: [ISVSVNLevel]
}

/// The TCB level of a quote's platform (PCK certificate's CPUSVN and PCESVN, and for TDX the TD
/// report's TEE_TCB_SVN), of its TDX module (TDX_NN identity by TEE_TCB_SVN[1], MRSIGNERSEAM and
/// SEAMATTRIBUTES, ISVSVN TEE_TCB_SVN[0]) and of its QE (MRSIGNER, ISVPRODID, masked MISCSELECT and
/// ATTRIBUTES, ISVSVN), combined. Levels are tried from the highest (by SGX components, PCESVN, then TDX
/// components), as Intel's QVL orders them.
public enum TCBEvaluator {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case refused(String)
        public var description: String { switch self { case .refused(let why): return why } }
    }

    public static func evaluate(_ quote: DCAPQuote, pck: PCKExtensions, collateral: QuoteCollateral) throws -> TCBStanding {
        guard let info = collateral.levels, let qe = collateral.qePolicy else {
            throw Failure.refused("TCB info or QE identity lacks the TCB levels (\(collateral.levelsProblem ?? "unreadable"))")
        }
        let platform = try platformLevel(quote, pck: pck, info: info)
        let enclave = try qeLevel(quote.qeReport, identity: qe)
        return platform.combined(with: enclave)
    }

    static func standing(_ status: String, _ advisories: [String]?) throws -> TCBStanding {
        guard let parsed = TCBStatus(rawValue: status) else { throw Failure.refused("unknown TCB status '\(status)'") }
        return TCBStanding(status: parsed, advisories: advisories ?? [])
    }

    static func hex(_ text: String, count: Int, _ field: String) throws -> [UInt8] {
        guard let bytes = try? [UInt8](hex: text), bytes.count == count else { throw Failure.refused("\(field) is not \(count) bytes of hex") }
        return bytes
    }

    static func platformLevel(_ quote: DCAPQuote, pck: PCKExtensions, info: TCBInfoLevels) throws -> TCBStanding {
        let td: DCAPQuote.TDReport?
        switch quote.body {
        case .sgx:
            td = nil
            guard info.id == "SGX", info.version >= 2 else { throw Failure.refused("SGX quote with non-SGX TCB info in the collateral") }
        case .td10(let report), .td15(let report):
            td = report
            guard info.id == "TDX", info.version >= 3 else { throw Failure.refused("TDX quote with non-TDX TCB info in the collateral") }
        }
        let ordered = info.tcbLevels.sorted { a, b in
            let (sa, sb) = (a.tcb.sgxtcbcomponents.map(\.svn), b.tcb.sgxtcbcomponents.map(\.svn))
            if sa != sb { return sa.lexicographicallyPrecedes(sb) == false }
            if a.tcb.pcesvn != b.tcb.pcesvn { return a.tcb.pcesvn > b.tcb.pcesvn }
            guard td != nil else { return false }
            let (ta, tb) = ((a.tcb.tdxtcbcomponents ?? []).map(\.svn), (b.tcb.tdxtcbcomponents ?? []).map(\.svn))
            return ta != tb && !ta.lexicographicallyPrecedes(tb)
        }
        for level in ordered {
            guard pck.pceSVN >= level.tcb.pcesvn else { continue }
            let sgx = level.tcb.sgxtcbcomponents.map(\.svn)
            guard sgx.count == pck.cpuSVN.count else { throw Failure.refused("TCB level with \(sgx.count) SGX components, the PCK has \(pck.cpuSVN.count)") }
            guard zip(pck.cpuSVN, sgx).allSatisfy({ $0 >= $1 }) else { continue }
            if let td {
                let tdx = (level.tcb.tdxtcbcomponents ?? []).map(\.svn)
                guard tdx.count == td.teeTCBSVN.count else { throw Failure.refused("TCB level with \(tdx.count) TDX components, TEE_TCB_SVN has \(td.teeTCBSVN.count)") }
                guard zip(td.teeTCBSVN, tdx).allSatisfy({ $0 >= $1 }) else { continue }
            }
            var result = try standing(level.tcbStatus, level.advisoryIDs)
            if let td, let module = try moduleLevel(td, info: info) { result = result.combined(with: module) }
            return result
        }
        throw Failure.refused("No matching TCB level found")
    }

    static func moduleLevel(_ td: DCAPQuote.TDReport, info: TCBInfoLevels) throws -> TCBStanding? {
        guard let base = info.tdxModule else { throw Failure.refused("TDX TCB info is missing tdxModule") }
        var (signer, attributes, mask) = (try hex(base.mrsigner, count: 48, "tdxModule.mrsigner"),
                                          try hex(base.attributes, count: 8, "tdxModule.attributes"),
                                          try hex(base.attributesMask, count: 8, "tdxModule.attributesMask"))
        var levels: [ISVSVNLevel]?
        let version = td.teeTCBSVN[1], isvsvn = Int(td.teeTCBSVN[0])
        if version > 0, let identities = info.tdxModuleIdentities, !identities.isEmpty {
            let wanted = String(format: "TDX_%02X", version)
            guard let identity = identities.first(where: { $0.id.uppercased() == wanted }) else {
                throw Failure.refused("No TDX module identity with id \(wanted) found in TCB Info")
            }
            signer = try hex(identity.mrsigner, count: 48, "\(wanted).mrsigner")
            attributes = try hex(identity.attributes, count: 8, "\(wanted).attributes")
            mask = try hex(identity.attributesMask, count: 8, "\(wanted).attributesMask")
            levels = identity.tcbLevels
        }
        guard td.mrSignerSeam == signer else { throw Failure.refused("TDX module MRSIGNER mismatch") }
        for index in 0..<8 {
            guard attributes[index] & mask[index] == td.seamAttributes[index] & mask[index] else {
                throw Failure.refused("TDX module SEAMATTRIBUTES mismatch at byte \(index)")
            }
            guard td.seamAttributes[index] & ~mask[index] == 0 else {
                throw Failure.refused("TDX module SEAMATTRIBUTES has bits set outside the mask at byte \(index)")
            }
        }
        guard let levels else { return nil }
        guard let level = levels.first(where: { isvsvn >= $0.tcb.isvsvn }) else {
            throw Failure.refused("TDX module ISVSVN \(isvsvn) is below every TDX module TCB level")
        }
        return try standing(level.tcbStatus, level.advisoryIDs)
    }

    static func qeLevel(_ report: DCAPQuote.EnclaveReport, identity: QEIdentityPolicy) throws -> TCBStanding {
        guard report.mrSigner == (try hex(identity.mrsigner, count: 32, "QE identity mrsigner")) else { throw Failure.refused("QE MRSIGNER mismatch") }
        guard report.attributes[0] & 0x02 == 0 else { throw Failure.refused("the QE runs in debug mode") }
        guard Int(report.isvProdID) == identity.isvprodid else { throw Failure.refused("QE ISVPRODID mismatch") }
        let misc = try hex(identity.miscselect, count: 4, "miscselect"), miscMask = try hex(identity.miscselectMask, count: 4, "miscselectMask")
        let expectedMisc = misc.littleEndianUInt32 & miscMask.littleEndianUInt32
        guard report.miscSelect & miscMask.littleEndianUInt32 == expectedMisc else { throw Failure.refused("QE MISCSELECT mismatch") }
        let attributes = try hex(identity.attributes, count: 16, "attributes"), mask = try hex(identity.attributesMask, count: 16, "attributesMask")
        for index in 0..<16 where attributes[index] & mask[index] != report.attributes[index] & mask[index] {
            throw Failure.refused("QE ATTRIBUTES mismatch at byte \(index)")
        }
        guard let level = identity.tcbLevels.first(where: { Int(report.isvSVN) >= $0.tcb.isvsvn }) else {
            throw Failure.refused("QE ISVSVN \(report.isvSVN) is below every QE identity TCB level")
        }
        return try standing(level.tcbStatus, level.advisoryIDs)
    }
}

extension Array where Element == UInt8 {
    var littleEndianUInt32: UInt32 { enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) } }
}
