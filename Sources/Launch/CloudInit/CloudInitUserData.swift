/// The user-data part of a cloud-init NoCloud seed: a `#cloud-config` document or a script.
/// The check is deliberately small: it catches the mistakes that make cloud-init silently ignore a
/// seed (no header, tabs in YAML indentation, binary content), not every YAML error.
public struct CloudInitUserData: Sendable, Hashable {
    public enum Kind: String, Sendable, Codable {
        case cloudConfig = "cloud-config"
        case script
    }

    /// Larger user-data is almost certainly the wrong file (cloud-init itself caps many sources at 16 KiB).
    public static let maximumBytes = 1 << 20

    public let text: String
    public let kind: Kind

    public init(bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { throw CloudInitError.invalidUserData("user-data is empty") }
        guard bytes.count <= Self.maximumBytes else {
            throw CloudInitError.invalidUserData("user-data is \(bytes.count) bytes, more than \(Self.maximumBytes)")
        }
        guard !bytes.contains(0) else { throw CloudInitError.invalidUserData("user-data contains NUL bytes (binary file?)") }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CloudInitError.invalidUserData("user-data is not UTF-8 text")
        }
        let firstLine = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let header = firstLine.hasSuffix("\r") ? String(firstLine.dropLast()) : firstLine
        if header.trimmingTrailingSpaces() == "#cloud-config" {
            kind = .cloudConfig
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where line.first == "\t" {
                throw CloudInitError.invalidUserData("user-data line \(index + 1) is indented with a tab; YAML allows spaces only")
            }
        } else if header.hasPrefix("#!") {
            kind = .script
        } else {
            let shown = header.count > 40 ? String(header.prefix(40)) + "…" : header
            throw CloudInitError.invalidUserData("user-data must start with '#cloud-config' or a '#!' script line, found '\(shown)'")
        }
        self.text = text
    }

    public init(_ text: String) throws {
        try self.init(bytes: Array(text.utf8))
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var result = Substring(self)
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return String(result)
    }
}
