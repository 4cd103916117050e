import ArgumentParser

/// Owned by the bench report work: summaries and comparisons of result directories. (Being written.)
struct BenchReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Write the reports of a result directory.")
    func run() throws { throw CLIFailure.unsupportedHere("cvm bench report is not written yet") }
}

struct BenchCompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compare", abstract: "Compare two result directories.")
    func run() throws { throw CLIFailure.unsupportedHere("cvm bench compare is not written yet") }
}
