import CHostAccess
import Foundation
import HostOS
import Testing

/// The process layer against real children (/bin/sh and coreutils).
@Suite struct ChildProcessTests {
    static func sh(_ script: String, stdout: ChildProcess.Output = .capture(), stderr: ChildProcess.Output = .capture(),
                   stdin: ChildProcess.Input = .null) throws -> ChildProcess {
        try ChildProcess(.init(executable: "/bin/sh", arguments: ["-c", script], standardInput: stdin,
                               standardOutput: stdout, standardError: stderr))
    }

    static func alive(_ pid: pid_t) -> Bool {
        // A zombie has exited; only a process in another state is alive.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
    }

    @Test func capturesBothStreamsAndTheExitStatus() throws {
        let result = try Self.sh("echo out; echo err >&2; exit 7").wait()
        #expect(result.stdoutText == "out\n")
        #expect(result.stderrText == "err\n")
        #expect(result.termination.exitCode == 7 && result.termination.signal == nil)
        #expect(!result.timedOut)
    }

    /// 8 MiB on each stream, far beyond a pipe's 64 KiB: a reader that did one stream after the other
    /// (or none while waiting) would deadlock here.
    @Test func largeOutputOnBothStreamsNeverBlocks() throws {
        let script = "head -c 8388608 /dev/zero; head -c 8388608 /dev/zero >&2"
        let result = try Self.sh(script, stdout: .capture(limit: 1 << 20)).wait(timeout: 60)
        #expect(!result.timedOut)
        #expect(result.termination.exitCode == 0)
        #expect(result.standardOutput.count == 1 << 20)
        #expect(result.standardError.count == 8 << 20)
    }

    @Test func aTimeoutStopsTheWholeProcessGroup() throws {
        // The shell starts a grandchild in the background; both must be gone after the timeout.
        let child = try Self.sh("sleep 300 & echo $!; wait", stdout: .stream { _ in })
        let grandchild = try Self.sh("sleep 0.5; pgrep -g \(child.pid) -x sleep").wait().stdoutText
            .split(separator: "\n").compactMap { pid_t($0) }
        #expect(!grandchild.isEmpty)
        let start = Date()
        let result = child.wait(timeout: 1)
        #expect(result.timedOut)
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(result.termination.signal == SIGTERM)
        usleep(200_000)
        #expect(grandchild.allSatisfy { !Self.alive($0) })
    }

    @Test func aChildIgnoringSIGTERMIsKilledAfterTheGrace() throws {
        let child = try Self.sh("trap '' TERM; while :; do sleep 0.1; done")
        usleep(200_000)
        let start = Date()
        child.terminate(grace: 0.5)
        #expect(Date().timeIntervalSince(start) < 5)
        #expect(child.wait().termination.signal == SIGKILL)
    }

    @Test func theChildLeadsItsOwnProcessGroup() throws {
        let child = try Self.sh("ps -o pgid= -p $$")
        let result = child.wait()
        #expect(pid_t(result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) == child.pid)
        #expect(child.processGroup == child.pid)
        #expect(child.pid != getpgrp())
    }

    @Test func theChildStartsWithPdeathsigKillAndDefaultSignals() throws {
        // /proc/PID/status of the child itself: nothing blocked, and SIGPIPE, SIGINT and SIGTERM not
        // ignored even though we ignore them (glibc's own real-time signals are not ours to reset).
        signal(SIGPIPE, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        defer { signal(SIGINT, SIG_DFL) }
        let status = try Self.sh("cat /proc/self/status").wait().stdoutText
        func mask(_ field: String) -> UInt64? {
            status.split(separator: "\n").first { $0.hasPrefix(field + ":") }
                .flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) }
        }
        let ignored = try #require(mask("SigIgn"))
        for number in [SIGPIPE, SIGINT, SIGTERM] { #expect(ignored & (1 << UInt64(number - 1)) == 0, "signal \(number) ignored") }
        #expect(mask("SigBlk") == 0)
        // PR_GET_PDEATHSIG is only readable by the process itself: python asks prctl in the child.
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else { return }
        let script = "import ctypes; v = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(v)); print(v.value)"
        let result = try ChildProcess(.init(executable: "/usr/bin/python3", arguments: ["-c", script])).wait()
        #expect(result.stdoutText == "\(SIGKILL)\n")
    }

    @Test func streamingDeliversOutputWhileTheChildRuns() throws {
        let seen = Lines()
        let child = try Self.sh("echo first; sleep 30", stdout: .stream { seen.append($0) })
        let deadline = Date().addingTimeInterval(10)
        while seen.text.isEmpty && Date() < deadline { usleep(20_000) }
        #expect(seen.text == "first\n")
        #expect(child.isRunning)
        child.terminate(grace: 1)
    }

    @Test func standardInputThroughAPipe() throws {
        let child = try Self.sh("tr a-z A-Z", stdin: .pipe)
        try child.standardInput?.write(contentsOf: Data("hello\n".utf8))
        try child.standardInput?.close()
        #expect(child.wait(timeout: 10).stdoutText == "HELLO\n")
    }

    @Test func aMissingProgramIsASpawnError() {
        #expect(throws: SpawnError.self) { try ChildProcess(.init(executable: "/nonexistent/program")) }
        #expect(ProcessRunner().run(["cvm-no-such-program"], timeout: 5) == nil)
    }

    @Test func runnerReportsTimeoutAndShellStatus() {
        let slow = ProcessRunner().run(["sleep", "30"], timeout: 0.5)
        #expect(slow?.timedOut == true)
        #expect(slow?.status == 128 + SIGTERM)
        #expect(ProcessRunner().run(["sh", "-c", "exit 3"], timeout: 5)?.status == 3)
    }
}

final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ chunk: Data) { lock.withLock { data.append(chunk) } }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}
