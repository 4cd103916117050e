import ArgumentParser

/// Owned by the bench engine work: runs the matrix. (Being written.)
struct BenchRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the benchmark matrix.")
    func run() throws { throw CLIFailure.unsupportedHere("cvm bench run is not written yet") }
}
