import Foundation
import HostOS
import HostProbe
import Testing
@testable import Launch

struct CloudInitSeedUserDataTests {
    @Test func acceptsACloudConfigDocument() throws {
        let data = try CloudInitUserData("#cloud-config\nusers:\n  - name: alice\n")
        #expect(data.kind == .cloudConfig)
    }

    @Test func acceptsAScript() throws {
        #expect(try CloudInitUserData("#!/bin/sh\necho hello\n").kind == .script)
    }

    @Test(arguments: ["users:\n  - name: alice\n", "# cloud-config\n", "", "cloud-config\n"])
    func refusesUserDataWithoutAHeader(_ text: String) {
        #expect(throws: CloudInitError.self) { try CloudInitUserData(text) }
    }

    @Test func refusesTabIndentationInCloudConfig() {
        #expect {
            try CloudInitUserData("#cloud-config\nusers:\n\t- name: alice\n")
        } throws: { error in
            "\(error)".contains("line 3") && "\(error)".contains("tab")
        }
    }

    @Test func refusesBinaryContent() {
        #expect(throws: CloudInitError.self) { try CloudInitUserData(bytes: Array("#cloud-config\n".utf8) + [0, 1, 2]) }
        #expect(throws: CloudInitError.self) { try CloudInitUserData(bytes: Array("#!/bin/sh\n".utf8) + [0xFF, 0xFE]) }
    }

    @Test func hostNamesFromVMNamesAreRFC1123Labels() {
        #expect(CloudInitSeed.hostname(from: "web_1.prod") == "web-1-prod")
        #expect(CloudInitSeed.hostname(from: "-x-") == "x")
        #expect(CloudInitSeed.isValidHostname(CloudInitSeed.hostname(from: String(repeating: "a", count: 80))))
        #expect(!CloudInitSeed.isValidHostname("bad_name"))
    }
}

struct CloudInitSeedISOTests {
    /// Runs xorriso (the reader, independent of how the image was written) and returns its output.
    static func xorriso(_ arguments: [String]) throws -> String {
        let output = try #require(ProcessRunner().run(["xorriso"] + arguments, timeout: 60), "xorriso is needed (apt-get install xorriso)")
        #expect(output.status == 0, "\(output.stderr)")
        return output.stdout + output.stderr
    }

    @Test func seedReadsBackWithLabelCidataAndItsThreeFiles() throws {
        let directory = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let userData = "#cloud-config\npassword: s3cret\nchpasswd: { expire: false }\n"
        let network = "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"
        let seed = try CloudInitSeed(instanceID: "iid-cvm-test-1", hostname: "test-1", userData: try CloudInitUserData(userData), networkConfig: network)
        let iso = directory.appendingPathComponent("seed.iso")
        try seed.write(sourceDirectory: directory.appendingPathComponent("cloud-init"), isoPath: iso)

        let info = try Self.xorriso(["-indev", iso.path, "-pvd_info"])
        #expect(info.contains("Volume Id    : cidata"), "\(info)")
        let listing = try Self.xorriso(["-indev", iso.path, "-find", "/", "-type", "f"])
        for name in ["'/user-data'", "'/meta-data'", "'/network-config'"] {
            #expect(listing.contains(name), "\(name) missing from \(listing)")
        }
        let out = directory.appendingPathComponent("extracted")
        _ = try Self.xorriso(["-osirrox", "on", "-indev", iso.path, "-extract", "/", out.path])
        #expect(try String(contentsOf: out.appendingPathComponent("user-data"), encoding: .utf8) == userData)
        #expect(try String(contentsOf: out.appendingPathComponent("meta-data"), encoding: .utf8) == "instance-id: iid-cvm-test-1\nlocal-hostname: test-1\n")
        #expect(try String(contentsOf: out.appendingPathComponent("network-config"), encoding: .utf8) == network)
    }

    @Test func seedAndUserDataAreReadableByTheOwnerOnly() throws {
        let directory = try TestGuest.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let seed = try CloudInitSeed(instanceID: "i-1", hostname: "h", userData: try CloudInitUserData("#!/bin/sh\ntrue\n"))
        let iso = directory.appendingPathComponent("seed.iso")
        try seed.write(sourceDirectory: directory.appendingPathComponent("ci"), isoPath: iso)
        for path in [iso.path, directory.appendingPathComponent("ci/user-data").path] {
            let mode = try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)
            #expect(mode.intValue == 0o600, "\(path) has mode \(String(mode.intValue, radix: 8))")
        }
    }
}
