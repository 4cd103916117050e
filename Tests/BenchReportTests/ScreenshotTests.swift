import Foundation
import Testing
@testable import BenchReport

/// Renders a synthetic report with headless Chromium through scripts/report-screenshot, when a Chromium
/// is installed (scripts/install-deps installs Debian's), and checks the picture is not blank.
@Suite struct ScreenshotTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/report-screenshot")

    static var chromiumInstalled: Bool {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].contains { FileManager.default.isExecutableFile(atPath: $0) }
    }

    // Chromium shares two cores with the QEMU tests of the full suite: 2 minutes were once exceeded there.
    @Test(.enabled(if: chromiumInstalled, "needs Chromium (apt-get install chromium)"), .timeLimit(.minutes(6)))
    func reportScreenshotShowsTheCharts() throws {
        let directory = try temporaryDirectory("screenshot")
        try SyntheticResults().write(to: directory)
        try BenchReportWriter.write(directory: directory)
        let png = directory.appendingPathComponent("report.png")
        let process = Process()
        process.executableURL = Self.script
        process.arguments = [directory.path, png.path]
        process.environment = ProcessInfo.processInfo.environment.merging(["WIDTH": "1200", "HEIGHT": "1800"]) { _, new in new }
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let data = try Data(contentsOf: png)
        // PNG signature, then IHDR with the window's width and height (big-endian).
        #expect(data.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let width = data.dropFirst(16).prefix(4).reduce(0) { $0 << 8 | Int($1) }
        let height = data.dropFirst(20).prefix(4).reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1200 && height == 1800)
        // A blank or single-colour page of this size compresses to a few kilobytes; charts, tables and
        // text do not.
        #expect(data.count > 60_000, "PNG is only \(data.count) bytes")
    }
}
