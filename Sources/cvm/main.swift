import CVMCommands
import Foundation

exit(await CVMMain.run(Array(CommandLine.arguments.dropFirst())))
