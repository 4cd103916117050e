/// A cheap upper bound on how deeply a YAML or JSON document nests, computed before a parser sees it.
/// Yams (and any recursive decoder) recurses once per level, so a few thousand levels of `[` or of
/// indentation overflow the stack (SIGSEGV). Real policy and bench files nest three or four levels; the
/// scan refuses anything past `NestingDepth.limit` with a line number, in time linear in the text.
///
/// The bound is conservative: it may over-count (never under-count) the parser's depth.
/// - Flow collections: inside `[`/`{` every bracket outside a quoted scalar or comment counts; a quoted
///   scalar starts only where a token can start, as in YAML and JSON.
/// - Block collections: each line's indentation opens one level per new, deeper column on a stack, counted
///   twice (a sequence may sit at its parent key's column), plus one per compact `- `/`? ` indicator.
public enum NestingDepth {
    public static let limit = 64

    public struct TooDeep: Error, Equatable, CustomStringConvertible, Sendable {
        public let line: Int
        public let limit: Int

        public init(line: Int, limit: Int) {
            self.line = line
            self.limit = limit
        }

        public var description: String {
            "nested more than \(limit) levels deep at line \(line); refused before parsing"
        }
    }

    /// Throws `TooDeep` when the document may nest deeper than `limit`.
    public static func check(_ text: String, limit: Int = NestingDepth.limit) throws {
        let bytes = Array(text.utf8)
        var line = 1
        var indents: [Int] = []
        var blockDepth = 0
        var flow = 0
        var index = 0
        var lineStart = true
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }
        func fail() -> TooDeep { TooDeep(line: line, limit: limit) }

        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0A {
                line += 1
                lineStart = true
                index += 1
                continue
            }
            if flow == 0 && lineStart {
                lineStart = false
                var column = 0
                while index < bytes.count, bytes[index] == 0x20 { column += 1; index += 1 }
                guard index < bytes.count, bytes[index] != 0x0A, bytes[index] != UInt8(ascii: "#") else { continue }
                while let last = indents.last, last > column { indents.removeLast() }
                if indents.last != column { indents.append(column) }
                var compact = 0
                while index + 1 < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "?"),
                      isSpace(bytes[index + 1]) {
                    compact += 1
                    index += 2
                    while index < bytes.count, bytes[index] == 0x20 { index += 1 }
                }
                blockDepth = 2 * indents.count + compact
                if blockDepth > limit { throw fail() }
                // The line's first node may itself open a flow collection.
                if index < bytes.count, bytes[index] == UInt8(ascii: "[") || bytes[index] == UInt8(ascii: "{") {
                    flow = 1
                    index += 1
                    if blockDepth + flow > limit { throw fail() }
                }
                continue
            }
            if flow == 0 {
                // Block context: a bracket opens a flow collection only where a value starts (after `: `,
                // `- ` or `? `); inside a plain scalar it is text. Counting after a bare `:` over-counts.
                if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                    var back = index - 1
                    while back >= 0, isSpace(bytes[back]) { back -= 1 }
                    let previous = back >= 0 ? bytes[back] : 0x0A
                    let afterSpace = index > 0 && isSpace(bytes[index - 1])
                    if previous == UInt8(ascii: ":") || (afterSpace && (previous == UInt8(ascii: "-") || previous == UInt8(ascii: "?"))) {
                        flow = 1
                        if blockDepth + flow > limit { throw fail() }
                    }
                }
                index += 1
                continue
            }
            // Flow context.
            lineStart = false
            switch byte {
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                flow += 1
                if blockDepth + flow > limit { throw fail() }
                index += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                flow -= 1
                index += 1
            case UInt8(ascii: "#") where index == 0 || isSpace(bytes[index - 1]) || bytes[index - 1] == 0x0A:
                while index < bytes.count, bytes[index] != 0x0A { index += 1 }
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                let atTokenStart = index == 0 || isSpace(bytes[index - 1]) || bytes[index - 1] == 0x0A
                    || "[{,:?".utf8.contains(bytes[index - 1])
                guard atTokenStart else { index += 1; break }
                index += 1
                while index < bytes.count {
                    let inner = bytes[index]
                    if inner == 0x0A { line += 1 }
                    if byte == UInt8(ascii: "\""), inner == UInt8(ascii: "\\") { index += 2; continue }
                    if inner == byte {
                        if byte == UInt8(ascii: "'"), index + 1 < bytes.count, bytes[index + 1] == byte { index += 2; continue }
                        break
                    }
                    index += 1
                }
                index += 1
            default:
                index += 1
            }
        }
    }
}
