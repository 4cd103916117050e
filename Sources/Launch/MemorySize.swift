import Foundation

/// A guest memory size as users write it on every command and in bench configs: a whole number with
/// an optional unit, M/MB/MiB (the default) or G/GB/GiB, read as mebibytes. One parser, so `run`, `vm`,
/// `bench` and the image limits accept the same spellings.
public enum MemorySize {
    /// Mebibytes, or nil when `text` is not a size. At most 9 digits, so the result cannot overflow.
    public static func mebibytes(_ text: String) -> Int? {
        let upper = text.trimmingCharacters(in: .whitespaces).uppercased()
        let digits = upper.prefix { ("0"..."9").contains($0) }
        guard !digits.isEmpty, digits.count <= 9, let value = Int(digits) else { return nil }
        switch upper.dropFirst(digits.count) {
        case "", "M", "MB", "MIB": return value
        case "G", "GB", "GIB": return value * 1024
        default: return nil
        }
    }
}
