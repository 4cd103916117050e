import ArgumentParser

/// `cvm bench`: the evaluation. `cvm bench` alone runs the matrix (BenchRunCommand); `report` and
/// `compare` work on result directories (BenchReportCommands.swift).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark guests across confidential modes and report with statistics and charts.",
        subcommands: [BenchRunCommand.self, BenchReportCommand.self, BenchCompareCommand.self],
        defaultSubcommand: BenchRunCommand.self
    )
}
