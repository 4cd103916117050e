/// Why a VM command could not do what was asked. `exitCode` follows the CLI's convention:
/// 1 the VM is not in a state that allows it, 2 bad input, 3 this host cannot do it.
public enum VMError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidName(String, reason: String)
    case invalidInput(String)
    case notFound(String)
    case alreadyExists(String)
    case busy(String)
    case wrongState(String)
    case unsupportedHere(String)
    case toolFailed(tool: String, status: Int32, message: String)
    case io(String)

    public var description: String {
        switch self {
        case let .invalidName(name, reason): return "invalid VM name '\(name)': \(reason)"
        case .notFound(let name): return "no VM named '\(name)' (see cvm vm list)"
        case .alreadyExists(let name): return "a VM named '\(name)' already exists"
        case .busy(let name): return "VM '\(name)' is busy: another cvm vm command holds its lock"
        case let .toolFailed(tool, status, message):
            let line = message.split(separator: "\n").last(where: { !$0.allSatisfy(\.isWhitespace) }).map(String.init) ?? ""
            return "\(tool) failed (status \(status))\(line.isEmpty ? "" : ": \(line)")"
        case .invalidInput(let why), .wrongState(let why), .unsupportedHere(let why), .io(let why): return why
        }
    }

    init(_ error: LaunchError) {
        switch error {
        case .invalid(let why): self = .invalidInput(why)
        case .unsupportedHere(let why), .hostRefused(let why): self = .unsupportedHere(why)
        }
    }

    public var exitCode: Int32 {
        switch self {
        case .invalidName, .invalidInput, .alreadyExists, .notFound: return 2
        case .unsupportedHere: return 3
        case .busy, .wrongState, .toolFailed, .io: return 1
        }
    }
}
