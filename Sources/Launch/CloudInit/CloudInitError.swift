/// Why a cloud-init seed could not be made.
public enum CloudInitError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidUserData(String)
    case invalidNetworkConfig(String)
    case invalidHostname(String)
    case toolMissing(String)
    case toolFailed(tool: String, status: Int32, message: String)
    case io(String)

    public var description: String {
        switch self {
        case .invalidUserData(let why), .invalidNetworkConfig(let why): return why
        case .invalidHostname(let name): return "'\(name)' cannot be a host name (letters, digits and '-', 1-63 characters)"
        case .toolMissing(let tool): return "\(tool) is not installed (apt-get install xorriso)"
        case let .toolFailed(tool, status, message):
            let line = message.split(separator: "\n").last.map(String.init) ?? ""
            return "\(tool) failed with status \(status)\(line.isEmpty ? "" : ": \(line)")"
        case .io(let why): return why
        }
    }
}
