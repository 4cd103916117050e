import CPU

/// fw_cfg over its I/O ports, one `out`/`in` per access: string I/O is not allowed under SEV.
enum FirmwareConfig {
    static func select(_ selector: UInt16) { uk_outw(FwCfg.selectorPort, selector) }

    static func read(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        for index in 0..<count { bytes[index] = uk_inb(FwCfg.dataPort) }
        return bytes
    }

    static func directory() throws(BootInfoError) -> FwCfgDirectory {
        select(FwCfg.signatureSelector)
        guard read(4) == FwCfg.signature else { throw .noFirmwareConfig }
        select(FwCfg.directorySelector)
        let header = read(4)
        let count = try parse(header) { (raw) throws(BootInfoError) in try FwCfgDirectory.count(header: raw) }
        let bytes = header + read(FwCfgDirectory.byteCount(entries: count) - 4)
        return try parse(bytes) { (raw) throws(BootInfoError) in try FwCfgDirectory(bytes: raw) }
    }

    /// The number of vCPUs QEMU started the guest with, nil without fw_cfg.
    static func cpuCount() -> Int? {
        select(FwCfg.signatureSelector)
        guard read(4) == FwCfg.signature else { return nil }
        select(FwCfg.cpuCountSelector)
        let bytes = read(2)
        return Int(bytes[0]) | Int(bytes[1]) << 8
    }

    static func contents(_ name: FwCfgFileName, in directory: FwCfgDirectory) throws(BootInfoError) -> [UInt8] {
        let file = try directory.file(name)
        select(file.selector)
        return read(file.size)
    }
}
