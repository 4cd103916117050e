import ArgumentParser
import Testing
@testable import CVMCommands

/// Help text is written as paragraphs that swift-argument-parser wraps to the terminal, and examples
/// short enough never to wrap. A hard newline inside a sentence shows up at 80 columns as a line cut
/// mid-sentence; an example wider than the terminal is split mid-command.
@Suite struct HelpTextTests {
    static let columns = 80

    /// Every command of the tree, the root included, with its path of names.
    static func allCommands() -> [(path: String, type: ParsableCommand.Type)] {
        var found: [(String, ParsableCommand.Type)] = []
        func walk(_ type: ParsableCommand.Type, _ path: String) {
            found.append((path, type))
            for sub in type.configuration.subcommands {
                walk(sub, path + " " + (sub.configuration.commandName ?? "\(sub)"))
            }
        }
        walk(CVM.self, "cvm")
        return found
    }

    /// A line of a discussion that is a command example: indented, or starting with `cvm `.
    static func isExample(_ line: Substring) -> Bool {
        line.hasPrefix("  ") || line.hasPrefix("cvm ") || line.hasPrefix("$ ")
    }

    /// A line that starts an item of its own: a list entry, a table row or a heading-like label.
    static func startsItem(_ line: Substring) -> Bool {
        line.hasPrefix("- ") || line.hasPrefix("* ") || line.hasPrefix("|") || isExample(line)
    }

    @Test func theTreeIsWalked() {
        let paths = Self.allCommands().map(\.path)
        #expect(paths.contains("cvm run"))
        #expect(paths.contains("cvm attest verify"))
        #expect(paths.count > 25)
    }

    @Test(arguments: allCommands().map(\.path))
    func noSentenceIsBrokenByAHardNewline(path: String) throws {
        let type = try #require(Self.allCommands().first { $0.path == path }?.type)
        let lines = type.configuration.discussion.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where index + 1 < lines.count {
            let next = lines[index + 1]
            if line.isEmpty || Self.startsItem(line) || next.isEmpty || Self.startsItem(next) { continue }
            // Two prose lines in a row: the first must end its sentence or introduce what follows.
            let ends = line.last.map { ".:;?!)".contains($0) } ?? true
            #expect(ends, "\(path): a sentence continues on the next source line: \"\(line)\" / \"\(next)\"")
        }
        #expect(!type.configuration.abstract.contains("\n"), "\(path): the abstract has a hard newline")
    }

    @Test(arguments: allCommands().map(\.path))
    func examplesFitIn80Columns(path: String) throws {
        let type = try #require(Self.allCommands().first { $0.path == path }?.type)
        let rendered = CVM.helpMessage(for: type, columns: Self.columns)
        let renderedLines = rendered.split(separator: "\n", omittingEmptySubsequences: false)
        // The USAGE line is swift-argument-parser's own and lists every option; the rest is ours.
        for line in renderedLines where !line.hasPrefix("USAGE:") {
            #expect(line.count <= Self.columns, "\(path): a help line is wider than \(Self.columns) columns: \(line)")
        }
        let examples = type.configuration.discussion.split(separator: "\n").filter(Self.isExample)
        for example in examples {
            let command = example.trimmingCharacters(in: .whitespaces)
            #expect(renderedLines.contains { $0.trimmingCharacters(in: .whitespaces) == command },
                    "\(path): the example is split at \(Self.columns) columns: \(command)")
        }
    }
}
