import ArgumentParser

struct HostCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Check readiness.")
    func run() async throws {}
}
