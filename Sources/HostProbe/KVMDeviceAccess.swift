import HostOS
/// Whether libvirt's QEMU user can open /dev/kvm. Without udev (containers, minimal images) the node
/// stays `root:root 0600`; libvirt then finds KVM "not available now" on every capabilities lookup,
/// throws its cache away and probes QEMU again each time, so one `virsh define` takes ~48 s instead
/// of 35 ms.
struct KVMDeviceAccess {
    static let path = "/dev/kvm"
    static let fix = "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm (udev's rule: KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\")"
    /// The user libvirt runs QEMU as: Debian/Ubuntu first, then Fedora/RHEL.
    static let qemuUsers = ["libvirt-qemu", "qemu"]

    struct Account { var name: String; var uid: UInt32; var gid: UInt32 }
    struct Group { var name: String; var gid: UInt32; var members: [String] }

    static func accounts(_ passwd: String?) -> [Account] {
        (passwd ?? "").split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 4, let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) else { return nil }
            return Account(name: String(fields[0]), uid: uid, gid: gid)
        }
    }

    static func groups(_ group: String?) -> [Group] {
        (group ?? "").split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 4, let gid = UInt32(fields[2]) else { return nil }
            return Group(name: String(fields[0]), gid: gid, members: fields[3].split(separator: ",").map(String.init))
        }
    }

    /// nil when /dev/kvm is absent or its owner is unknown (kvm.usable covers a missing device).
    static func check(files: any HostFileSystem) -> CheckResult? {
        guard let node = files.ownership(of: path) else { return nil }
        let groups = groups(files.text(at: "/etc/group"))
        let accounts = accounts(files.text(at: "/etc/passwd"))
        let octal = "0" + String(node.mode & 0o777, radix: 8)
        let groupName = groups.first { $0.gid == node.gid }?.name ?? String(node.gid)
        let found = "\(path) is \(node.uid == 0 ? "root" : String(node.uid)):\(groupName) \(octal)"
        func granted(uid: UInt32, gids: Set<UInt32>) -> Bool {
            if node.mode & 0o006 == 0o006 { return true }
            if uid == node.uid { return node.mode & 0o600 == 0o600 }
            return gids.contains(node.gid) && node.mode & 0o060 == 0o060
        }
        if let user = qemuUsers.lazy.compactMap({ name in accounts.first { $0.name == name } }).first {
            let gids = Set([user.gid] + groups.filter { $0.members.contains(user.name) }.map(\.gid))
            if granted(uid: user.uid, gids: gids) {
                return CheckResult(id: "kvm.device-access", title: "/dev/kvm for libvirt's QEMU", status: .pass,
                                   reason: "\(found): libvirt's QEMU user \(user.name) can open it")
            }
            return CheckResult(id: "kvm.device-access", title: "/dev/kvm for libvirt's QEMU", status: .fail,
                               reason: "\(found): libvirt's QEMU user \(user.name) cannot open it, so libvirt re-probes QEMU on every capabilities lookup (virsh define takes tens of seconds)",
                               hint: fix)
        }
        guard let kvm = groups.first(where: { $0.name == "kvm" }) else {
            return CheckResult(id: "kvm.device-access", title: "/dev/kvm for libvirt's QEMU", status: .info,
                               reason: "\(found); there is no kvm group and no libvirt QEMU user")
        }
        let ok = granted(uid: UInt32.max, gids: [kvm.gid])
        return CheckResult(id: "kvm.device-access", title: "/dev/kvm for libvirt's QEMU", status: ok ? .pass : .fail,
                           reason: ok ? "\(found): the kvm group can open it" : "\(found): the kvm group cannot open it (libvirt's QEMU runs in that group)",
                           hint: ok ? nil : fix)
    }
}
