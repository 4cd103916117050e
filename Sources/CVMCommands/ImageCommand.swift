import ArgumentParser

/// `cvm image`: guest bundles. `build` holds one subcommand per guest kind.
struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build guest bundles (kernel, command line, manifest with SHA-256 and SHA-384 digests).",
        subcommands: [Build.self, ImageInspectCommand.self]
    )

    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "build",
            abstract: "Build a guest bundle.",
            subcommands: [Unikernel.self, Linux.self, OCI.self]
        )
    }
}
