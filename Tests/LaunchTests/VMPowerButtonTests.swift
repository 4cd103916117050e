import Foundation
import GuestImage
import Testing
@testable import Launch

/// `cvm vm stop` of the minimal Linux guest (built for real, the kernel from apt) under TCG: cvm-init
/// powers off on the ACPI power button, so the stop ends well before its force timeout, and says so.
struct VMPowerButtonTests {
    @Test(.timeLimit(.minutes(15))) func linuxGuestPowersOffOnTheACPIPowerButton() throws {
        let bed = try VMTestBed()
        defer { bed.tearDown() }
        // A command that stays up until the power button: the guest must not exit by itself.
        let command = Data("echo vm-up-for-stop; exec sleep 3600".utf8).base64EncodedString()
        let bundle = try LinuxGuestBuilder(options: .init(output: bed.home.appendingPathComponent("bundle"),
                                                          cmdline: "\(LinuxGuestBuilder.defaultCmdline) cvm.run64=\(command)")).build()
        let name = try VMName("pb")
        var request = VMCreateRequest(name: name, source: .bundle(directory: bundle.directory.path, kernel: bundle.kernelURL.path,
                                                                  initrd: bundle.initrdURL.path, cmdline: bundle.cmdline))
        request.memoryMiB = 512
        request.accelerator = .tcg
        try bed.manager.create(request)
        try bed.manager.start(name, waitFor: "vm-up-for-stop", timeout: 600)

        let began = Date()
        let stop = try bed.manager.stop(name, timeout: 60)
        let seconds = Date().timeIntervalSince(began)
        #expect(stop.forced == nil, "\(stop.forced ?? "")")
        #expect(seconds < 30, "vm stop took \(Int(seconds)) s of its 60 s force timeout")
        let log = try String(contentsOf: try bed.vm("pb").serialLog, encoding: .utf8)
        #expect(log.contains("power-button status=watching"))
        #expect(log.contains("power-button status=pressed"))
        #expect(try bed.manager.status(name).status == .stopped)
        #expect(try bed.qemuProcesses("pb").isEmpty)
    }
}
