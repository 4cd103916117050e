/// A dotted version (1.51, 7.2.22, 6.11.0-rc1), compared component by component.
public struct DottedVersion: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var components: [Int]

    public init(_ components: [Int]) {
        self.components = components
    }

    /// Reads the first run of digits and dots in `text` ("QEMU emulator version 7.2.22 (Debian ...)" → 7.2.22).
    public init?(parsing text: String) {
        var current = ""
        var found: [Int] = []
        var started = false
        for character in text {
            if character.isNumber {
                current.append(character)
                started = true
            } else if character == "." && started && !current.isEmpty {
                found.append(Int(current) ?? 0)
                current = ""
            } else if started {
                break
            }
        }
        if !current.isEmpty { found.append(Int(current) ?? 0) }
        guard !found.isEmpty else { return nil }
        components = found
    }

    /// 9.1 and 9.1.0 are the same version.
    public static func == (lhs: DottedVersion, rhs: DottedVersion) -> Bool {
        !(lhs < rhs) && !(rhs < lhs)
    }

    public func hash(into hasher: inout Hasher) {
        var trimmed = components
        while trimmed.last == 0 { trimmed.removeLast() }
        hasher.combine(trimmed)
    }

    public static func < (lhs: DottedVersion, rhs: DottedVersion) -> Bool {
        let count = max(lhs.components.count, rhs.components.count)
        for index in 0..<count {
            let l = index < lhs.components.count ? lhs.components[index] : 0
            let r = index < rhs.components.count ? rhs.components[index] : 0
            if l != r { return l < r }
        }
        return false
    }

    public var description: String { components.map(String.init).joined(separator: ".") }
}
