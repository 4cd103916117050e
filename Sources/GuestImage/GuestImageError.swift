/// Every failure of image building and bundle handling, each described in one line.
public enum GuestImageError: Error, Equatable, CustomStringConvertible, Sendable {
    /// An archive entry that cannot be represented or would escape the archive root.
    case invalidEntry(path: String, reason: String)
    case io(String)
    case missingTool(String, hint: String)
    case toolFailed(String, status: Int32, message: String)
    /// A bundle directory that is incomplete or malformed.
    case invalidBundle(String)
    /// A bundle part whose bytes do not match the manifest.
    case digestMismatch(part: String, algorithm: String, expected: String, found: String)
    case invalidELF(String)
    case moduleNotFound(String)
    case packageNotFound(String)
    /// A builder input the user gave in a form the guest cannot use.
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .invalidEntry(path, reason): return "archive entry '\(path)': \(reason)"
        case let .io(message): return message
        case let .missingTool(tool, hint): return "\(tool) is not installed (\(hint))"
        case let .toolFailed(tool, status, message):
            let detail = message.split(separator: "\n").last.map { ": \($0)" } ?? ""
            return "\(tool) failed with status \(status)\(detail)"
        case let .invalidBundle(message): return "invalid guest bundle: \(message)"
        case let .digestMismatch(part, algorithm, expected, found):
            return "bundle part '\(part)' was modified: \(algorithm) is \(found), manifest says \(expected)"
        case let .invalidELF(message): return "not a usable ELF file: \(message)"
        case let .moduleNotFound(name): return "kernel module '\(name)' not found"
        case let .packageNotFound(message): return message
        case let .invalidInput(message): return message
        }
    }
}
