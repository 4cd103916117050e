@testable import HostProbe

enum HostProbeFixtures {
    /// What Debian 12's QEMU reports about itself.
    static let qemu72 = QEMUCapabilities(binary: "qemu-system-x86_64", versionLine: "QEMU emulator version 7.2.22",
                                         version: DottedVersion([7, 2, 22]), accelerators: ["tcg", "kvm"],
                                         objectTypes: ["sev-guest", "memory-backend-memfd"], snpGuestProperties: [], machineTypes: ["q35", "pc-q35-7.1"])
}
