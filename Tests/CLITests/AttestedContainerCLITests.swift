import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// A free TCP port on loopback (bound, read, released).
func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            _ = bind(fd, pointer, length)
            return getsockname(fd, pointer, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A `cvm` child left running (the relying party, a guest serving HTTP) and stopped at the end.
final class BackgroundCVM: @unchecked Sendable {
    let process = Process()
    let stderrFile: URL

    init(_ arguments: [String], environment: [String: String]? = nil, in directory: URL, label: String) throws {
        stderrFile = directory.appendingPathComponent("\(label).stderr")
        FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        process.executableURL = CLIRun.executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = FileHandle(forWritingAtPath: stderrFile.path)
        process.standardError = FileHandle(forWritingAtPath: stderrFile.path)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var output: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }

    func waitFor(_ text: String, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if output.contains(text) { return true }
            if !process.isRunning { return output.contains(text) }
            usleep(100_000)
        }
        return false
    }

    func stop() {
        if process.isRunning { process.interrupt() }
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { usleep(100_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

func httpGet(_ url: String, timeout: TimeInterval = 5) -> (Int, String)? {
    final class Box: @unchecked Sendable { var result: (Int, String)? }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    var request = URLRequest(url: URL(string: url)!)
    request.timeoutInterval = timeout
    URLSession(configuration: .ephemeral).dataTask(with: request) { data, response, _ in
        if let http = response as? HTTPURLResponse { box.result = (http.statusCode, String(decoding: data ?? Data(), as: UTF8.self)) }
        done.signal()
    }.resume()
    done.wait()
    return box.result
}

/// Issue 16 under TCG: a real container guest with an attestation step talks to a real relying party
/// (`cvm attest serve`) on loopback through QEMU user networking, has no SEV, is refused, and its
/// container never starts; and a containerised server is reachable through `--publish`.
@Suite(.serialized) struct AttestedContainerCLITests {
    @Test(.timeLimit(.minutes(8)))
    func aGuestWithoutSEVIsRefusedByTheRelyingPartyAndItsContainerDoesNotStart() throws {
        let directory = try OCITestArchive.temporaryDirectory("attest")
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = try OCITestArchive.make(in: directory, populate: "mkdir -p bin && cp /bin/busybox bin/busybox && ln -s busybox bin/sh",
                                            config: ["Cmd": ["/bin/sh", "-c", "echo container-started; cat /run/secrets/db-password"]])
        let environment = try OCITestArchive.environment(cache: directory.appendingPathComponent("cache"))
        try Data("s3cret-never-released".utf8).write(to: directory.appendingPathComponent("pw"))
        let port = freeLoopbackPort()
        let log = directory.appendingPathComponent("decisions.jsonl")
        let party = try BackgroundCVM(["attest", "serve", "--listen", "127.0.0.1:\(port)", "--key", directory.appendingPathComponent("rp.key").path,
                                       "--secret", "db-password=" + directory.appendingPathComponent("pw").path, "--log", log.path],
                                      in: directory, label: "serve")
        defer { party.stop() }
        #expect(party.waitFor("listening on", seconds: 30), "\(party.output)")

        let run = try CLIRun.cvm(["run", "docker-archive:" + image.path, "--mode", "none", "--accel", "tcg", "--timeout", "300",
                                  "--attest", "http://127.0.0.1:\(port)"], environment: environment)
        #expect(run.status == 122, "\(run.stderr.suffix(3000))")
        #expect(!run.stdout.contains("container-started"), "the container must not start: \(run.stdout)")
        #expect(!run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"))
        #expect(run.stderr.contains("the guest attests to http://10.0.2.2:\(port)"), "\(run.stderr)")
        #expect(run.stderr.contains("no attestation report: not a confidential guest"), "\(run.stderr)")
        #expect(run.stderr.contains("attestation failed: refused by the relying party"), "\(run.stderr)")

        let decisions = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let attest = try #require(decisions.first { $0["event"] as? String == "attest" })
        #expect(attest["decision"] as? String == "deny")
        #expect((attest["reason"] as? String)?.hasPrefix("no attestation report: not a confidential guest") == true)
        #expect(!decisions.contains { $0["event"] as? String == "resource" && $0["decision"] as? String == "allow" })

        // The bundle says what it attests to, and a bundle built for another relying party is refused.
        let bundleLine = try #require(run.stderr.split(separator: "\n").first { $0.contains("→ bundle ") })
        let bundle = String(try #require(bundleLine.components(separatedBy: "→ bundle ").last)).replacingOccurrences(of: " (cached)", with: "")
        let manifest = try String(contentsOfFile: bundle + "/manifest.json", encoding: .utf8)
        #expect(manifest.contains("\"attestation.url\" : \"http://10.0.2.2:\(port)\"") || manifest.contains("\"attestation.url\":\"http://10.0.2.2:\(port)\""))
        let other = try CLIRun.cvm(["run", bundle, "--dry-run", "--attest", "http://127.0.0.1:\(port + 1)"], environment: environment)
        #expect(other.status == 2)
        #expect(other.stderr.contains("rebuild it to change the relying party"), "\(other.stderr)")
    }

    @Test(.timeLimit(.minutes(8)))
    func aServerInTheContainerAnswersTheHostThroughPublish() throws {
        let directory = try OCITestArchive.temporaryDirectory("publish")
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = try OCITestArchive.make(in: directory,
                                            populate: "mkdir -p bin www && cp /bin/busybox bin/busybox && ln -s busybox bin/sh && echo 'hello from the container' > www/index.html",
                                            config: ["Cmd": ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]])
        let environment = try OCITestArchive.environment(cache: directory.appendingPathComponent("cache"))
        let port = freeLoopbackPort()
        let guest = try BackgroundCVM(["run", "docker-archive:" + image.path, "--mode", "none", "--accel", "tcg", "--timeout", "400",
                                       "--publish", "127.0.0.1:\(port):8080"], environment: environment, in: directory, label: "guest")
        defer { guest.stop() }
        var answer: (Int, String)?
        let deadline = Date().addingTimeInterval(360)
        while Date() < deadline && guest.process.isRunning {
            if let got = httpGet("http://127.0.0.1:\(port)/"), got.0 == 200 {
                answer = got
                break
            }
            sleep(2)
        }
        #expect(answer?.0 == 200, "\(guest.output.suffix(3000))")
        #expect(answer?.1 == "hello from the container\n")
        guest.stop()
        let logLine = guest.output.split(separator: "\n").first { $0.contains("kernel log (ttyS0) in ") }
        if let path = logLine?.components(separatedBy: "kernel log (ttyS0) in ").last,
           let kernelLog = try? String(contentsOfFile: String(path), encoding: .utf8) {
            #expect(kernelLog.contains("network iface=eth0 address=10.0.2.15/24 gateway=10.0.2.2"))
        }
    }

    @Test func publishAndAttestArgumentsAreChecked() throws {
        let directory = try OCITestArchive.temporaryDirectory("publish-args")
        defer { try? FileManager.default.removeItem(at: directory) }
        // A file with a Linux setup header ("HdrS" at 0x202, protocol 2.15) and nothing else.
        var linux = [UInt8](repeating: 0, count: 8192)
        linux.replaceSubrange(0x202..<0x208, with: [0x48, 0x64, 0x72, 0x53, 0x0F, 0x02])
        let kernel = directory.appendingPathComponent("vmlinuz").path
        try Data(linux).write(to: URL(fileURLWithPath: kernel))
        let bad = try CLIRun.cvm(["run", "--kernel", "/nonexistent", "--publish", "80", "--dry-run"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("[HOSTADDR:]HOSTPORT:GUESTPORT"), "\(bad.stderr)")
        let dry = try CLIRun.cvm(["run", "--kernel", kernel, "--publish", "8081:80", "--publish", "0.0.0.0:8443:443", "--dry-run", "--accel", "tcg"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("user,id=net0,hostfwd=tcp:127.0.0.1:8081-:80,hostfwd=tcp:0.0.0.0:8443-:443"), "\(dry.stdout)")
        let xml = try CLIRun.cvm(["run", "--kernel", kernel, "--publish", "8081:80", "--dry-run", "--accel", "tcg", "--backend", "libvirt"])
        #expect(xml.status == 0, "\(xml.stderr)")
        #expect(xml.stdout.contains("<backend type=\"passt\"/>") || xml.stdout.contains("<backend type='passt'/>"), "\(xml.stdout)")
        #expect(xml.stdout.contains("start=\"8081\" to=\"80\"") || xml.stdout.contains("start='8081' to='80'"), "\(xml.stdout)")
        // libvirt's own schema accepts the passt port forward (virt-xml-validate, libvirt-clients).
        let domain = directory.appendingPathComponent("domain.xml")
        try Data(xml.stdout.utf8).write(to: domain)
        let validate = try OCITestArchive.shell("virt-xml-validate \(domain.path) domain", in: directory)
        #expect(validate.status == 0, "\(validate.output)")
        let https = try CLIRun.cvm(["run", "docker-archive:/nonexistent.tar", "--attest", "https://rp.example:443"])
        #expect(https.status == 2)
        let both = try CLIRun.cvm(["run", "/nonexistent", "--attest", "--attest", "http://127.0.0.1:1"])
        #expect(both.status == 2)
    }
}
