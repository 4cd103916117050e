import SEVABI

/// Runs every readiness check against a host (the real one or a recording) and returns the report.
/// The checks are the union of `sevctl ok` and `snphost ok`, plus what both miss (SEV-REFERENCE.md §2).
public struct HostChecker: Sendable {
    public struct Options: Sendable {
        public var qemuBinary = "qemu-system-x86_64"
        public var libvirtURI = "qemu:///system"
        public var firmwareDirectories = FirmwareDiscovery.searchDirectories
        /// Boot the reset-vector probe guest under QEMU+KVM (a few seconds).
        public var probeQEMUGuests = true

        public init() {}
    }

    public var sources: HostSources
    public var options: Options

    public init(sources: HostSources, options: Options = Options()) {
        self.sources = sources
        self.options = options
    }

    public func run() -> HostReport {
        let cpu = CPUInfo(cpuid: sources.cpuid)
        var checks: [CheckResult] = []
        checks += cpuChecks(cpu)
        checks += msrChecks(cpu)
        checks += kernelModuleChecks(cpu)
        checks += firmwareStatusChecks(cpu)
        let kvm = sources.kvm.probe()
        checks += kvmChecks(kvm, cpu: cpu)
        checks += kernelChecks()
        let qemu = QEMUCapabilities.detect(using: sources.commands, binary: options.qemuBinary)
        checks += qemuChecks(qemu, kvm: kvm)
        checks += libvirtChecks(LibvirtCapabilities.detect(using: sources.commands, uri: options.libvirtURI))
        checks += firmwareImageChecks()
        checks += tdxChecks(cpu)
        checks.append(memoryEncryptionActiveCheck(cpu))
        let cpuLine = cpu.brand.isEmpty ? cpu.vendor : cpu.brand
        let hardwareKVM = kvm.guestRanToHalt && ParavirtualKVM.provider(loadedModules: sources.files.list("/sys/module")) == nil
            && checks.contains { $0.id == "qemu.kvm-guest" && $0.status == .pass }
        return HostReport(host: sources.system.hostname, kernel: sources.system.kernelRelease, cpu: cpuLine, checks: checks,
                          noneAccelerator: hardwareKVM ? "kvm" : "tcg")
    }

    // MARK: CPU

    func cpuChecks(_ cpu: CPUInfo) -> [CheckResult] {
        var out: [CheckResult] = []
        let all = Set(ConfidentialMode.sevModes)
        let fms = "family 0x\(String(cpu.family, radix: 16)) model 0x\(String(cpu.model, radix: 16)) stepping \(cpu.stepping)"
        if cpu.isAMD {
            out.append(CheckResult(id: "cpu.vendor", title: "CPU vendor", status: .pass, reason: "AuthenticAMD", requiredFor: all))
        } else {
            out.append(CheckResult(id: "cpu.vendor", title: "CPU vendor", status: .fail, reason: "\(cpu.vendor.isEmpty ? "unknown" : cpu.vendor): SEV exists on AMD EPYC only",
                                   hint: cpu.isIntel ? "on Intel, confidential VMs use TDX (see the tdx check)" : "use an AMD EPYC host", requiredFor: all))
        }
        if let generation = cpu.generation {
            out.append(CheckResult(id: "cpu.generation", title: "CPU generation", status: .info,
                                   reason: "\(cpu.brand) (\(fms)): \(generation.rawValue), up to \(generation.bestMode)"))
        } else {
            out.append(CheckResult(id: "cpu.generation", title: "CPU generation", status: .info,
                                   reason: "\(cpu.brand.isEmpty ? cpu.vendor : cpu.brand) (\(fms)): not an EPYC generation with SEV"))
        }
        if cpu.underHypervisor {
            out.append(CheckResult(id: "cpu.hypervisor", title: "Running under a hypervisor", status: .info,
                                   reason: "this host is itself a VM (hypervisor: \(cpu.hypervisorVendor ?? "unknown")); SEV host features are not passed to guests",
                                   hint: "run cvm on bare metal to launch SEV guests; this VM can still build, measure, verify and emulate"))
        }
        guard cpu.isAMD else { return out }
        guard let leaf = cpu.memoryEncryption else {
            out.append(CheckResult(id: "cpuid.sev", title: "SEV in CPUID", status: .fail,
                                   reason: "CPUID leaf 0x8000001F is absent (max extended leaf 0x\(String(cpu.maxExtendedLeaf, radix: 16)))",
                                   hint: cpu.underHypervisor ? "the hypervisor hides memory encryption; use bare metal" : "enable SME/SEV in the BIOS (SMEE, SEV ASIDs)",
                                   requiredFor: all))
            out.append(CheckResult(id: "cpuid.asids", title: "Encrypted guest ASIDs", status: .skip,
                                   reason: "not read: CPUID leaf 0x8000001F is absent", requiredFor: all))
            return out
        }
        func feature(_ id: String, _ title: String, _ present: Bool, _ bit: Int, _ modes: Set<ConfidentialMode>, hint: String) -> CheckResult {
            // Inside a VM the BIOS is not the user's to change: the hypervisor decides what CPUID shows.
            let fix = cpu.underHypervisor ? "the hypervisor does not expose \(title) to this VM; run on bare metal" : hint
            return CheckResult(id: id, title: title, status: present ? .pass : .fail,
                               reason: present ? "CPUID 0x8000001F EAX bit \(bit) set" : "CPUID 0x8000001F EAX bit \(bit) clear",
                               hint: present ? nil : fix, requiredFor: modes)
        }
        out.append(feature("cpuid.sme", "SME", leaf.sme, 0, [], hint: "enable SMEE (Secure Memory Encryption) in the BIOS"))
        out.append(feature("cpuid.sev", "SEV", leaf.sev, 1, all, hint: "enable SEV in the BIOS and set 'SEV ASID count' above 0"))
        out.append(feature("cpuid.sev-es", "SEV-ES", leaf.sevES, 3, ConfidentialMode.sevES.andAbove, hint: "SEV-ES needs Rome or later with SEV-ES enabled in the BIOS"))
        out.append(feature("cpuid.sev-snp", "SEV-SNP", leaf.sevSNP, 4, [.sevSNP], hint: "SEV-SNP needs Milan or later with SNP enabled in the BIOS (SNP, SNP memory coverage, IOMMU)"))
        out.append(feature("cpuid.vmpl", "VMPL", leaf.vmpl, 5, [.sevSNP], hint: "VMPLs come with SEV-SNP; enable SNP in the BIOS"))
        guard leaf.sev else {
            out.append(CheckResult(id: "cpuid.asids", title: "Encrypted guest ASIDs", status: .skip,
                                   reason: "not read: CPUID shows no SEV, so the ASID count means nothing", requiredFor: all))
            return out
        }
        out.append(CheckResult(id: "cpuid.cbit", title: "C-bit and address reduction", status: .info,
                               reason: "C-bit position \(leaf.cBitPosition), physical address reduction \(leaf.physicalAddressReduction), \(leaf.vmplCount) VMPLs\(leaf.secureTSC ? ", Secure TSC" : "")"))
        let asidStatus: CheckResult.Status = leaf.encryptedGuests > 0 ? .pass : .fail
        out.append(CheckResult(id: "cpuid.asids", title: "Encrypted guest ASIDs", status: asidStatus,
                               reason: "\(leaf.encryptedGuests) ASIDs; SEV-ES/SNP ASIDs 1-\(leaf.esASIDs), SEV-only from \(leaf.minimumSEVASID)",
                               hint: asidStatus == .pass ? nil : "raise 'SEV ASID count' in the BIOS", requiredFor: all))
        if leaf.sevES {
            let esOK = leaf.esASIDs > 0
            out.append(CheckResult(id: "cpuid.es-asids", title: "SEV-ES/SNP ASIDs", status: esOK ? .pass : .fail,
                                   reason: esOK ? "\(leaf.esASIDs) ASIDs reserved for SEV-ES and SNP guests" : "no ASIDs below the minimum SEV ASID: SEV-ES and SNP cannot start",
                                   hint: esOK ? nil : "set 'SEV-ES ASID Space Limit' in the BIOS above 1", requiredFor: ConfidentialMode.sevES.andAbove))
        }
        return out
    }

    /// Whether the host itself runs with SME (or TSME), not only whether CPUID offers it: Linux keeps the
    /// `sme` flag in /proc/cpuinfo only when it activated SME ("Memory Encryption Features active: AMD
    /// SME"); SYSCFG MemEncryptionModEn (bit 23) says the BIOS enabled memory encryption.
    func memoryEncryptionActiveCheck(_ cpu: CPUInfo) -> CheckResult {
        let title = "SME active on this host"
        guard cpu.isAMD, !cpu.underHypervisor else {
            return CheckResult(id: "host.sme-active", title: title, status: .info,
                               reason: cpu.isAMD ? "unknown: this host is a VM (cpu.hypervisor); SME is the hypervisor host's" : "no: not an AMD CPU")
        }
        let flags = (sources.files.text(at: "/proc/cpuinfo") ?? "").split(separator: "\n")
            .first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ").map(String.init)) } ?? []
        let syscfg = try? sources.msr.read(0xC001_0010).get()
        let bit23 = syscfg.map { $0 & (1 << 23) != 0 }
        let bios = bit23.map { $0 ? "SYSCFG MemEncryptionModEn (bit 23) set" : "SYSCFG MemEncryptionModEn (bit 23) clear" } ?? "SYSCFG not read"
        if flags.contains("sme") {
            return CheckResult(id: "host.sme-active", title: title, status: .info, reason: "yes: the kernel activated SME (/proc/cpuinfo flag sme); \(bios)")
        }
        if bit23 == true {
            return CheckResult(id: "host.sme-active", title: title, status: .info,
                               reason: "SME not active in this kernel (no sme flag in /proc/cpuinfo; mem_encrypt=on activates it); \(bios), so the BIOS enabled memory encryption (TSME, if enabled there, is transparent to the OS)")
        }
        return CheckResult(id: "host.sme-active", title: title, status: .info, reason: "no: no sme flag in /proc/cpuinfo; \(bios)")
    }

    // MARK: MSRs

    func msrChecks(_ cpu: CPUInfo) -> [CheckResult] {
        let all = Set(ConfidentialMode.sevModes)
        guard cpu.isAMD, cpu.memoryEncryption?.sev == true else {
            let why = !cpu.isAMD ? "not an AMD CPU" : cpu.underHypervisor ? "CPUID shows no SEV (this host is a VM, cpu.hypervisor)" : "CPUID shows no SEV"
            return [CheckResult(id: "msr.syscfg", title: "SYSCFG MSR", status: .skip, reason: "not read: \(why)", requiredFor: all),
                    CheckResult(id: "msr.rmp", title: "RMP table", status: .skip, reason: "not read: \(why)", requiredFor: [.sevSNP])]
        }
        let syscfgMSR: UInt32 = 0xC001_0010
        switch sources.msr.read(syscfgMSR) {
        case .failure(let error):
            let hint: String? = error == .noDevice ? "modprobe msr (and run as root) so the SYSCFG MSR can be read" :
                error == .permissionDenied ? "run cvm host check as root to read MSRs" : nil
            return [CheckResult(id: "msr.syscfg", title: "SYSCFG MSR", status: .skip,
                                reason: "MSR 0xC0010010 not read: \(error)", hint: hint, requiredFor: all),
                    CheckResult(id: "msr.rmp", title: "RMP table", status: .skip, reason: "not read: SYSCFG could not be read", requiredFor: [.sevSNP])]
        case .success(let syscfg):
            var out: [CheckResult] = []
            let memEncrypt = syscfg & (1 << 23) != 0
            let snp = syscfg & (1 << 24) != 0
            let vmpl = syscfg & (1 << 25) != 0
            out.append(CheckResult(id: "msr.syscfg", title: "SYSCFG memory encryption", status: memEncrypt ? .pass : .fail,
                                   reason: "SYSCFG 0x\(String(syscfg, radix: 16)): MemEncryptionModEn (bit 23) \(memEncrypt ? "set" : "clear")",
                                   hint: memEncrypt ? nil : "enable SMEE / memory encryption in the BIOS", requiredFor: all))
            out.append(CheckResult(id: "msr.syscfg.snp", title: "SYSCFG SNP enable", status: snp ? .pass : .fail,
                                   reason: "SNPEn (bit 24) \(snp ? "set" : "clear")\(vmpl ? ", VMPLEn (bit 25) set" : "")",
                                   hint: snp ? nil : "enable SEV-SNP in the BIOS and boot a kernel with SNP host support (it sets SNPEn)",
                                   requiredFor: [.sevSNP]))
            if snp {
                switch (sources.msr.read(0xC001_0132), sources.msr.read(0xC001_0133)) {
                case let (.success(base), .success(end)) where base != 0 && end > base:
                    let mib = (end - base + 1) >> 20
                    out.append(CheckResult(id: "msr.rmp", title: "RMP table", status: .pass,
                                           reason: "RMP at 0x\(String(base, radix: 16))-0x\(String(end, radix: 16)) (\(mib) MiB)", requiredFor: [.sevSNP]))
                case (.success, .success):
                    out.append(CheckResult(id: "msr.rmp", title: "RMP table", status: .fail, reason: "RMP base/end MSRs are not set",
                                           hint: "the BIOS did not reserve the RMP; enable SNP memory coverage", requiredFor: [.sevSNP]))
                default:
                    out.append(CheckResult(id: "msr.rmp", title: "RMP table", status: .skip, reason: "RMP MSRs could not be read", requiredFor: [.sevSNP]))
                }
            } else {
                out.append(CheckResult(id: "msr.rmp", title: "RMP table", status: .skip, reason: "not read: SNPEn is clear, so there is no RMP", requiredFor: [.sevSNP]))
            }
            return out
        }
    }

    // MARK: kvm_amd

    func kernelModuleChecks(_ cpu: CPUInfo) -> [CheckResult] {
        let files = sources.files
        let loaded = files.list("/sys/module").filter { $0 == "kvm" || $0.hasPrefix("kvm_") }
        var out: [CheckResult] = []
        let all = Set(ConfidentialMode.sevModes)
        guard loaded.contains("kvm_amd") else {
            let others = loaded.filter { $0 != "kvm" }
            let reason = others.isEmpty ? (loaded.isEmpty ? "no KVM module is loaded" : "kvm is loaded but kvm_amd is not")
                : "kvm_amd is not loaded (this kernel uses \(others.joined(separator: ", ")))"
            out.append(CheckResult(id: "kvm_amd.loaded", title: "kvm_amd module", status: .fail, reason: reason,
                                   hint: cpu.underHypervisor ? Self.hypervisorCause : cpu.isAMD ? "modprobe kvm_amd sev=1 sev_es=1 sev_snp=1" : nil,
                                   requiredFor: all))
            return out
        }
        out.append(CheckResult(id: "kvm_amd.loaded", title: "kvm_amd module", status: .pass, reason: "kvm_amd is loaded", requiredFor: all))
        for (parameter, modes) in [("sev", all), ("sev_es", ConfidentialMode.sevES.andAbove), ("sev_snp", Set([ConfidentialMode.sevSNP]))] {
            let path = "/sys/module/kvm_amd/parameters/\(parameter)"
            let id = "kvm_amd.\(parameter)"
            guard let raw = files.text(at: path)?.stripping(" \n") else {
                out.append(CheckResult(id: id, title: "kvm_amd \(parameter)", status: .fail,
                                       reason: "\(path) does not exist (this kernel's KVM has no \(parameter) support)",
                                       hint: parameter == "sev_snp" ? "SNP host support needs Linux ≥ 6.11" : "rebuild the kernel with CONFIG_KVM_AMD_SEV=y",
                                       requiredFor: modes))
                continue
            }
            let enabled = raw == "Y" || raw == "1"
            out.append(CheckResult(id: id, title: "kvm_amd \(parameter)", status: enabled ? .pass : .fail,
                                   reason: "\(path) = \(raw)",
                                   hint: enabled ? nil : "add kvm_amd.\(parameter)=1 to the kernel command line (or 'options kvm_amd \(parameter)=1' in /etc/modprobe.d) and reload kvm_amd",
                                   requiredFor: modes))
        }
        return out
    }

    // MARK: /dev/sev

    /// Inside a VM the BIOS and the host's modules are not the user's to change: the fix is elsewhere.
    static let hypervisorCause = "this host is a VM (cpu.hypervisor): the hypervisor does not pass SEV through; run cvm on bare metal"

    func firmwareStatusChecks(_ cpu: CPUInfo) -> [CheckResult] {
        let all = Set(ConfidentialMode.sevModes)
        let access = sources.files.access("/dev/sev")
        let notQueried = { (why: String) in
            CheckResult(id: "sev.platform-status", title: "SEV platform status", status: .skip,
                        reason: "PLATFORM_STATUS not asked: \(why)", requiredFor: all)
        }
        switch access {
        case .missing:
            return [CheckResult(id: "sev.device", title: "/dev/sev", status: .fail, reason: "/dev/sev does not exist (no PSP driver bound)",
                                hint: cpu.underHypervisor ? Self.hypervisorCause : "modprobe ccp; check dmesg for 'SEV API' lines and that SEV is enabled in the BIOS",
                                requiredFor: all),
                    notQueried("/dev/sev does not exist")]
        case .noAccess, .readOnly:
            return [CheckResult(id: "sev.device", title: "/dev/sev", status: .fail, reason: "/dev/sev is \(access.rawValue) for this user",
                                hint: "run as root or give your user read-write access to /dev/sev (e.g. a udev rule for the kvm group)", requiredFor: all),
                    notQueried("/dev/sev is \(access.rawValue) for this user")]
        case .readWrite:
            break
        }
        var out = [CheckResult(id: "sev.device", title: "/dev/sev", status: .pass, reason: "/dev/sev is read-write", requiredFor: all)]
        switch sources.sev.platformStatus() {
        case .success(let status):
            out.append(CheckResult(id: "sev.platform-status", title: "SEV platform status", status: .pass,
                                   reason: "API \(status.apiMajor).\(status.apiMinor) build \(status.build), state \(status.stateName), \(status.guestCount) guests\(status.esConfigured ? ", SEV-ES initialised" : "")",
                                   requiredFor: all))
        case .failure(let failure):
            out.append(CheckResult(id: "sev.platform-status", title: "SEV platform status", status: .fail,
                                   reason: "PLATFORM_STATUS failed: \(failure)", hint: "update the SEV firmware (linux-firmware amd/amd_sev_fam*.sbin) and check dmesg", requiredFor: all))
        }
        switch sources.sev.snpPlatformStatus() {
        case .success(let status):
            let version = status.firmwareVersion
            let initialised = status.isInitialized && status.rmpInitialized
            out.append(CheckResult(id: "sev.snp-status", title: "SNP platform status", status: initialised ? .pass : .fail,
                                   reason: "state \(status.isInitialized ? "INIT" : "UNINIT"), RMP \(status.rmpInitialized ? "initialised" : "not initialised"), reported TCB 0x\(String(status.reportedTCB, radix: 16))",
                                   hint: initialised ? nil : "SNP was not initialised: enable SNP in the BIOS and boot with kvm_amd.sev_snp=1 on Linux ≥ 6.11",
                                   requiredFor: [.sevSNP]))
            let recent = version >= FirmwareVersion.snpMinimum
            out.append(CheckResult(id: "sev.firmware-version", title: "SNP firmware version", status: recent ? .pass : .fail,
                                   reason: "firmware \(version), SNP needs ≥ \(FirmwareVersion.snpMinimum.major).\(FirmwareVersion.snpMinimum.minor)",
                                   hint: recent ? nil : "update the BIOS or load newer SEV firmware (linux-firmware amd/amd_sev_fam19h_model*.sbin)",
                                   requiredFor: [.sevSNP]))
        case .failure(let failure):
            out.append(CheckResult(id: "sev.snp-status", title: "SNP platform status", status: .fail,
                                   reason: "SNP_PLATFORM_STATUS failed: \(failure)", hint: "SNP needs Linux ≥ 6.11 with SNP enabled in the BIOS",
                                   requiredFor: [.sevSNP]))
        }
        return out
    }

    // MARK: KVM

    func kvmChecks(_ kvm: KVMProbeResult, cpu: CPUInfo) -> [CheckResult] {
        // Every confidential mode, TDX included, runs under KVM.
        let all = Set(ConfidentialMode.confidential)
        var out: [CheckResult] = []
        switch kvm.deviceAccess {
        case .missing:
            out.append(CheckResult(id: "kvm.usable", title: "KVM", status: .fail, reason: "/dev/kvm does not exist",
                                   hint: cpu.isIntel ? "enable VT-x in the BIOS and load kvm_intel" : "enable SVM in the BIOS and load kvm_amd", requiredFor: all))
            return out
        case .noAccess, .readOnly:
            out.append(CheckResult(id: "kvm.usable", title: "KVM", status: .fail, reason: "/dev/kvm is \(kvm.deviceAccess.rawValue) for this user",
                                   hint: "add your user to the kvm group", requiredFor: all))
            return out
        case .readWrite:
            break
        }
        let reached: String
        if kvm.guestRanToHalt {
            reached = "API \(kvm.apiVersion ?? 0); a VM was created and a minimal real-mode guest ran to HLT under KVM_RUN"
        } else if kvm.vmCreated {
            reached = "API \(kvm.apiVersion ?? 0); a VM was created but the minimal guest failed at \(kvm.failedStep ?? "KVM_RUN")\(kvm.errno.map { " (errno \($0))" } ?? "")"
        } else {
            reached = "API \(kvm.apiVersion.map(String.init) ?? "unknown"); \(kvm.failedStep ?? "KVM_CREATE_VM") failed\(kvm.errno.map { " (errno \($0))" } ?? "")"
        }
        let usable = kvm.apiVersion == 12 && kvm.guestRanToHalt
        // What `cvm run --accel auto` will do with this KVM, by the rule LaunchPlanner applies.
        let runs = ParavirtualKVM.provider(loadedModules: sources.files.list("/sys/module")).map {
            "; /dev/kvm is \($0) (no hardware virtualization), so cvm run --accel auto uses TCG for mode none (--accel kvm forces KVM)"
        } ?? (usable ? "; cvm run --accel auto uses KVM" : "; cvm run --accel auto uses TCG for mode none")
        out.append(CheckResult(id: "kvm.usable", title: "KVM", status: usable ? .pass : .fail, reason: reached + runs,
                               hint: usable ? nil : "check dmesg for KVM errors; nested virtualization may be disabled or partial", requiredFor: all))
        if let access = KVMDeviceAccess.check(files: sources.files) { out.append(access) }
        return out
    }

    // MARK: kernel and limits

    func kernelChecks() -> [CheckResult] {
        let release = sources.system.kernelRelease
        let version = DottedVersion(parsing: release) ?? DottedVersion([0])
        var out: [CheckResult] = []
        let snpOK = version >= DottedVersion([6, 11])
        out.append(CheckResult(id: "kernel.snp", title: "Host kernel for SNP", status: snpOK ? .pass : .fail,
                               reason: "Linux \(release); SNP guests with guest_memfd need ≥ 6.11",
                               hint: snpOK ? nil : "install a kernel ≥ 6.11 (Debian: trixie or bookworm-backports linux-image-amd64)",
                               requiredFor: [.sevSNP]))
        if version >= DottedVersion([6, 9]) {
            let param = sources.files.text(at: "/sys/module/kvm/parameters/gmem_2m_enabled")?.stripping(" \n")
            if let param {
                let on = param == "Y" || param == "1"
                out.append(CheckResult(id: "kernel.gmem-2m", title: "guest_memfd huge pages", status: .info,
                                       reason: "kvm.gmem_2m_enabled = \(param)", hint: on ? nil : "SNP guest memory is slow without it: boot with kvm.gmem_2m_enabled=1"))
            }
        }
        if let limit = sources.system.memlockLimitBytes {
            let mib = limit >> 20
            out.append(CheckResult(id: "limits.memlock", title: "Locked-memory limit", status: .info,
                                   reason: "RLIMIT_MEMLOCK \(mib < 1 ? "\(limit / 1024) KiB" : "\(mib) MiB")",
                                   hint: limit < (1 << 30) ? "QEMU started directly pins SEV/SEV-ES guest memory: raise it (ulimit -l unlimited, or LimitMEMLOCK=infinity); libvirt raises it itself" : nil))
        } else {
            out.append(CheckResult(id: "limits.memlock", title: "Locked-memory limit", status: .info, reason: "RLIMIT_MEMLOCK unlimited"))
        }
        return out
    }

    // MARK: QEMU

    func qemuChecks(_ qemu: QEMUCapabilities?, kvm: KVMProbeResult) -> [CheckResult] {
        let all = Set(ConfidentialMode.confidential)
        guard let qemu else {
            return [CheckResult(id: "qemu.installed", title: "QEMU", status: .fail, reason: "\(options.qemuBinary) is not installed",
                                hint: "apt-get install qemu-system-x86", requiredFor: all)]
        }
        var out = [CheckResult(id: "qemu.installed", title: "QEMU", status: .pass, reason: qemu.versionLine, requiredFor: all)]
        out.append(CheckResult(id: "qemu.kvm-accel", title: "QEMU KVM accelerator", status: qemu.hasKVMAccelerator ? .pass : .fail,
                               reason: "accelerators: \(qemu.accelerators.joined(separator: ", "))",
                               hint: qemu.hasKVMAccelerator ? nil : "install a QEMU built with KVM support", requiredFor: all))
        out.append(CheckResult(id: "qemu.sev-guest", title: "QEMU sev-guest", status: qemu.supportsSEVGuest ? .pass : .fail,
                               reason: qemu.supportsSEVGuest ? "-object help lists sev-guest" : "-object help does not list sev-guest",
                               hint: qemu.supportsSEVGuest ? nil : "install a QEMU built for x86_64 with SEV support", requiredFor: [.sev, .sevES]))
        let snpVersionOK = (qemu.version ?? DottedVersion([0])) >= DottedVersion([9, 1])
        let snpOK = qemu.supportsSNPGuest && snpVersionOK
        out.append(CheckResult(id: "qemu.sev-snp-guest", title: "QEMU sev-snp-guest", status: snpOK ? .pass : .fail,
                               reason: qemu.supportsSNPGuest ? "-object help lists sev-snp-guest (\(qemu.snpGuestProperties.count) properties)" : "QEMU \(qemu.version?.description ?? "?") has no sev-snp-guest (needs ≥ 9.1)",
                               hint: snpOK ? nil : "install QEMU ≥ 9.1 (Debian trixie ships 10.0)", requiredFor: [.sevSNP]))
        let tdxVersionOK = (qemu.version ?? DottedVersion([0])) >= DottedVersion([10, 1])
        let tdxOK = qemu.supportsTDXGuest && tdxVersionOK
        out.append(CheckResult(id: "qemu.tdx-guest", title: "QEMU tdx-guest", status: tdxOK ? .pass : .fail,
                               reason: qemu.supportsTDXGuest ? "-object help lists tdx-guest" : "QEMU \(qemu.version?.description ?? "?") has no tdx-guest (needs ≥ 10.1 built with TDX)",
                               hint: tdxOK ? nil : "install QEMU ≥ 10.1 (Debian trixie-backports ships 11.1)", requiredFor: [.tdx]))
        if qemu.needsKernelHashesMachineWorkaround {
            out.append(CheckResult(id: "qemu.kernel-hashes-bug", title: "QEMU kernel-hashes", status: .info,
                                   reason: "QEMU \(qemu.version?.description ?? "") mis-measures kernel-hashes=on on q35; cvm uses machine pc-q35-7.1 for measured kernel boots"))
        }
        if options.probeQEMUGuests, qemu.hasKVMAccelerator, kvm.deviceAccess == .readWrite, kvm.vmCreated {
            out.append(qemuKVMGuestCheck(qemu))
        }
        return out
    }

    /// Boots the reset-vector guest under QEMU+KVM with the default CPU model and with the host model:
    /// nested KVM is often partial, and this is what tells `cvm run --accel auto` which to trust.
    func qemuKVMGuestCheck(_ qemu: QEMUCapabilities) -> CheckResult {
        let models: [String?] = [nil, "host,-arch-capabilities"]
        let outcomes: [QEMUGuestProbe.Outcome]
        do {
            outcomes = try QEMUGuestProbe.withBIOS { bios in
                models.map { QEMUGuestProbe.run(using: sources.commands, binary: qemu.binary, accelerator: "kvm", cpuModel: $0, biosPath: bios) }
            }
        } catch {
            return CheckResult(id: "qemu.kvm-guest", title: "QEMU guest under KVM", status: .skip, reason: "could not write the probe firmware: \(error)")
        }
        let described = outcomes.map { "\($0.cpuModel): \($0.ran ? "runs" : "fails (\($0.detail))")" }.joined(separator: "; ")
        let anyRan = outcomes.contains { $0.ran }
        let allRan = outcomes.allSatisfy { $0.ran }
        return CheckResult(id: "qemu.kvm-guest", title: "QEMU guest under KVM", status: allRan ? .pass : (anyRan ? .info : .fail),
                           reason: "minimal guest with -accel kvm, CPU model \(described)",
                           hint: allRan ? nil : (anyRan ? "KVM here is partial: cvm run --accel auto uses the working CPU model or falls back to TCG" : "QEMU cannot run guests under KVM here; cvm uses TCG (emulation) instead"),
                           requiredFor: allRan || anyRan ? [] : Set(ConfidentialMode.confidential))
    }

    // MARK: libvirt

    func libvirtChecks(_ libvirt: LibvirtCapabilities?) -> [CheckResult] {
        guard let libvirt else {
            return [CheckResult(id: "libvirt.installed", title: "libvirt", status: .info, reason: "virsh is not installed (the QEMU backend works without it)",
                                hint: "apt-get install libvirt-daemon-system libvirt-clients for the libvirt backend")]
        }
        var out = [CheckResult(id: "libvirt.installed", title: "libvirt", status: .info, reason: "libvirt \(libvirt.version?.description ?? "unknown version")")]
        if let error = libvirt.connectError {
            out.append(CheckResult(id: "libvirt.sev", title: "libvirt SEV capability", status: .skip, reason: "domain capabilities not read: \(error)",
                                   hint: "start libvirtd (systemctl start libvirtd, or libvirtd -d)"))
        } else if libvirt.sevSupported == true {
            out.append(CheckResult(id: "libvirt.sev", title: "libvirt SEV capability", status: .pass,
                                   reason: "domcapabilities (\(libvirt.virtType ?? "?")): <sev supported='yes'> cbitpos \(libvirt.cbitpos.map(String.init) ?? "?"), maxGuests \(libvirt.maxGuests.map(String.init) ?? "?"), maxESGuests \(libvirt.maxESGuests.map(String.init) ?? "?")"))
        } else {
            out.append(CheckResult(id: "libvirt.sev", title: "libvirt SEV capability", status: .info,
                                   reason: "domcapabilities (\(libvirt.virtType ?? "?")) report no SEV support"))
        }
        let snp = libvirt.supportsSNPLaunchSecurity
        out.append(CheckResult(id: "libvirt.sev-snp", title: "libvirt sev-snp launch security", status: .info,
                               reason: snp ? "libvirt ≥ 10.5 knows <launchSecurity type='sev-snp'>" : "libvirt \(libvirt.version?.description ?? "?") predates <launchSecurity type='sev-snp'> (10.5)",
                               hint: snp ? nil : "use cvm's QEMU backend for SNP, or install libvirt ≥ 10.5"))
        return out
    }

    // MARK: OVMF

    func firmwareImageChecks() -> [CheckResult] {
        let images = FirmwareDiscovery.candidates(in: sources.files, directories: options.firmwareDirectories)
            .map { FirmwareDiscovery.inspect($0, files: sources.files) }
        guard !images.isEmpty else {
            return [CheckResult(id: "ovmf.present", title: "OVMF firmware", status: .fail, reason: "no OVMF image found in \(options.firmwareDirectories.joined(separator: ", "))",
                                hint: "apt-get install ovmf", requiredFor: Set(ConfidentialMode.sevModes))]
        }
        var out: [CheckResult] = images.map { image in
            let features: String
            if let problem = image.problem {
                features = "not usable: \(problem)"
            } else {
                var parts: [String] = []
                parts.append(image.hasSEVMetadata ? "SEV/SNP metadata" : "no SEV metadata")
                parts.append(image.hasSEVESResetBlock ? "SEV-ES reset block" : "no SEV-ES reset block")
                parts.append(image.hasKernelHashesTable ? "kernel-hashes table" : "no kernel-hashes table")
                if image.hasSNPKernelHashesSection { parts.append("SNP_KERNEL_HASHES section") }
                features = parts.joined(separator: ", ")
            }
            return CheckResult(id: "ovmf.image:\(image.path)", title: "OVMF image", status: .info, reason: "\(image.path) (\(image.size / 1024) KiB): \(features)")
        }
        let usable = images.filter { $0.problem == nil }
        out.append(CheckResult(id: "ovmf.present", title: "OVMF firmware", status: usable.isEmpty ? .fail : .pass,
                               reason: "\(usable.count) usable OVMF image(s)", hint: usable.isEmpty ? "apt-get install ovmf" : nil, requiredFor: Set(ConfidentialMode.sevModes)))
        let snp = usable.filter(\.supportsSNP)
        out.append(CheckResult(id: "ovmf.snp", title: "OVMF for SNP", status: snp.isEmpty ? .fail : .pass,
                               reason: snp.isEmpty ? "no OVMF image carries SEV metadata" : "\(snp.map(\.path).joined(separator: ", ")) carry SEV metadata",
                               hint: snp.isEmpty ? "install an OVMF built with SNP support (edk2 ≥ stable202208)" : nil, requiredFor: [.sevSNP]))
        let measured = usable.filter(\.supportsMeasuredKernelBoot)
        out.append(CheckResult(id: "ovmf.kernel-hashes", title: "OVMF for measured kernel boot", status: .info,
                               reason: measured.isEmpty ? "no image has the kernel-hashes table: kernel, initrd and cmdline are not covered by the launch measurement" : "\(measured.map(\.path).joined(separator: ", ")) support kernel-hashes=on",
                               hint: measured.isEmpty ? "for measured direct kernel boot build OvmfPkg/AmdSev/AmdSevX64.dsc (Ubuntu: ovmf-amdsev)" : nil))
        return out
    }

    // MARK: TDX

    /// MSR IA32_MKTME_KEYID_PARTITIONING (0x87): bits 31:0 the MKTME KeyIDs, 63:32 the TDX private KeyIDs
    /// the BIOS reserved. No TDX KeyIDs: TDX is off in the BIOS.
    static let keyIDPartitioningMSR: UInt32 = 0x87
    /// Linux gained KVM's TDX host support in 6.16.
    static let tdxHostKernel = DottedVersion([6, 16])

    /// Readiness for Intel TDX, each check with a reason and a fix (Linux Documentation/arch/x86/tdx.rst,
    /// virt/kvm/x86/intel-tdx.rst; QEMU docs/system/i386/tdx.rst).
    func tdxChecks(_ cpu: CPUInfo) -> [CheckResult] {
        let tdx: Set<ConfidentialMode> = [.tdx]
        guard cpu.isIntel else {
            return [CheckResult(id: "tdx.cpu", title: "TDX CPU", status: .fail,
                                reason: "\(cpu.vendor.isEmpty ? "unknown vendor" : cpu.vendor): TDX exists on Intel Xeon (Sapphire Rapids and later) only",
                                hint: cpu.isAMD ? "on AMD, confidential VMs use SEV (see the SEV checks)" : "use an Intel Xeon host with TDX", requiredFor: tdx)]
        }
        var out: [CheckResult] = []
        if cpu.underHypervisor {
            out.append(CheckResult(id: "tdx.cpu", title: "TDX CPU", status: .fail,
                                   reason: "this host is itself a VM (hypervisor: \(cpu.hypervisorVendor ?? "unknown")); TDX needs the TDX module on bare metal",
                                   hint: "run cvm on a bare-metal Xeon to launch TDs", requiredFor: tdx))
        } else {
            out.append(CheckResult(id: "tdx.cpu", title: "TDX CPU", status: .pass, reason: "\(cpu.brand.isEmpty ? "GenuineIntel" : cpu.brand)", requiredFor: tdx))
        }
        switch sources.msr.read(Self.keyIDPartitioningMSR) {
        case .success(let value):
            let mktme = value & 0xffff_ffff, tdxKeys = value >> 32
            out.append(CheckResult(id: "tdx.keyids", title: "TDX private KeyIDs", status: tdxKeys > 0 ? .pass : .fail,
                                   reason: "IA32_MKTME_KEYID_PARTITIONING: \(mktme) MKTME KeyIDs, \(tdxKeys) TDX private KeyIDs",
                                   hint: tdxKeys > 0 ? nil : "enable TME, TME-MT (multi-key) and TDX in the BIOS and give TDX KeyIDs (TME-MT/TDX key split above 0)",
                                   requiredFor: tdx))
        case .failure(let error):
            out.append(CheckResult(id: "tdx.keyids", title: "TDX private KeyIDs", status: error == .notImplemented ? .fail : .skip,
                                   reason: "IA32_MKTME_KEYID_PARTITIONING (0x87): \(error)",
                                   hint: error == .notImplemented ? "the CPU has no MKTME key partitioning: enable TME-MT and TDX in the BIOS" : "run as root with the msr module (modprobe msr) to read the TDX KeyIDs",
                                   requiredFor: error == .notImplemented ? tdx : []))
        }
        // The TDX module (SEAM): Linux initialises it when kvm_intel loads with tdx=1 and says so in sysfs
        // where the kernel has it (/sys/firmware/tdx), else in its log ("virt/tdx: TDX module initialized").
        let module = "/sys/firmware/tdx/tdx_module"
        let status = sources.files.text(at: module + "/status")?.stripping(" \n")
        let version = ["major_version", "minor_version", "update_version"].compactMap { sources.files.text(at: "\(module)/\($0)")?.stripping(" \n") }
        let build = sources.files.text(at: module + "/build_num")?.stripping(" \n")
        switch status {
        case "initialized"?:
            let named = version.isEmpty ? "" : " version \(version.joined(separator: "."))\(build.map { " build \($0)" } ?? "")"
            out.append(CheckResult(id: "tdx.module", title: "TDX module", status: .pass, reason: "the TDX module\(named) is initialized", requiredFor: tdx))
        case .some(let other):
            out.append(CheckResult(id: "tdx.module", title: "TDX module", status: .fail, reason: "the TDX module is \(other)",
                                   hint: "load kvm_intel with tdx=1 and check dmesg for virt/tdx errors (the BIOS must load the module: SEAM loader)", requiredFor: tdx))
        case nil:
            out.append(CheckResult(id: "tdx.module", title: "TDX module", status: .info,
                                   reason: "\(module) is absent: this kernel does not publish the module's state; dmesg shows 'virt/tdx: TDX module initialized' when it is"))
        }
        let parameter = sources.files.text(at: "/sys/module/kvm_intel/parameters/tdx")?.stripping(" \n")
        switch parameter {
        case "Y"?, "1"?:
            out.append(CheckResult(id: "tdx.kvm", title: "kvm_intel tdx", status: .pass, reason: "kvm_intel tdx = \(parameter ?? ""): KVM runs TDs", requiredFor: tdx))
        case .some(let value):
            out.append(CheckResult(id: "tdx.kvm", title: "kvm_intel tdx", status: .fail, reason: "kvm_intel tdx = \(value): KVM's TDX support is off",
                                   hint: "reload kvm_intel with tdx=1 (kernel command line kvm_intel.tdx=1)", requiredFor: tdx))
        case nil:
            let loaded = sources.files.list("/sys/module").contains("kvm_intel")
            out.append(CheckResult(id: "tdx.kvm", title: "kvm_intel tdx", status: .fail,
                                   reason: loaded ? "kvm_intel has no tdx parameter: this kernel has no KVM TDX host support" : "kvm_intel is not loaded",
                                   hint: loaded ? "boot a host kernel ≥ 6.16 built with CONFIG_KVM_INTEL_TDX" : "modprobe kvm_intel tdx=1", requiredFor: tdx))
        }
        let release = sources.system.kernelRelease
        let kernelOK = (DottedVersion(parsing: release) ?? DottedVersion([0])) >= Self.tdxHostKernel
        out.append(CheckResult(id: "tdx.kernel", title: "Host kernel for TDX", status: kernelOK ? .pass : .fail,
                               reason: "Linux \(release)\(kernelOK ? "" : ": KVM's TDX host support arrived in 6.16")",
                               hint: kernelOK ? nil : "install a host kernel ≥ 6.16 (Debian trixie-backports)", requiredFor: tdx))
        let tdvf = FirmwareDiscovery.candidates(in: sources.files, directories: options.firmwareDirectories)
            .map { FirmwareDiscovery.inspect($0, files: sources.files) }.filter(\.hasTDXMetadata)
        out.append(CheckResult(id: "tdx.tdvf", title: "TDVF (OVMF for TDX)", status: tdvf.isEmpty ? .fail : .pass,
                               reason: tdvf.isEmpty ? "no firmware image with TDX metadata in \(options.firmwareDirectories.joined(separator: ", "))"
                                                    : tdvf.map(\.path).joined(separator: ", "),
                               hint: tdvf.isEmpty ? "apt-get install ovmf-inteltdx (Debian unstable: /usr/share/ovmf/OVMF.inteltdx.ms.fd)" : nil, requiredFor: tdx))
        return out
    }
}
