import ArgumentParser

struct HostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "Inspect this host's readiness for SEV, SEV-ES and SEV-SNP.",
        subcommands: [HostCheckCommand.self]
    )
}
