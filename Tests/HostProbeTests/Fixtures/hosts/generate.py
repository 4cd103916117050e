#!/usr/bin/env python3
"""Writes the host recordings for the host-check tests, except nested-cloud-vm.json, which
`cvm host check --record` captured on the development machine (AMD EPYC VM under PVM, no SEV).

Each value follows the AMD specifications (CPUID 0x8000001F, SYSCFG, PLATFORM_STATUS,
SNP_PLATFORM_STATUS) and what the named tools print on such hosts. The OVMF tails are the real
edk2-stable202405 images in ../ovmf_*_suffix.bin. Run from this folder: python3 generate.py
"""
import base64, json, os

HERE = os.path.dirname(os.path.abspath(__file__))

def regs(*words):
    return ["0x%x" % w for w in words]

def brand_leaves(text):
    raw = text.encode().ljust(48, b"\0")
    out = {}
    for i, leaf in enumerate((0x80000002, 0x80000003, 0x80000004)):
        chunk = raw[i * 16:(i + 1) * 16]
        out["0x%x/0" % leaf] = regs(*[int.from_bytes(chunk[j:j + 4], "little") for j in range(0, 16, 4)])
    return out

def vendor_leaf(vendor, max_leaf=0x10):
    b = vendor.encode()
    return regs(max_leaf, int.from_bytes(b[0:4], "little"), int.from_bytes(b[8:12], "little"), int.from_bytes(b[4:8], "little"))

def signature(family, model, stepping):
    base_family = min(family, 0xF)
    ext_family = family - 0xF if family >= 0xF else 0
    return (ext_family << 20) | ((model >> 4) << 16) | (base_family << 8) | ((model & 0xF) << 4) | stepping

def cpu(vendor, brand, family, model, stepping, mem_enc=None, hypervisor=None, max_ext=0x80000028):
    leaves = {"0x0/0": vendor_leaf(vendor)}
    ecx1 = 0x7ED8320B | (1 << 31 if hypervisor else 0)
    leaves["0x1/0"] = regs(signature(family, model, stepping), 0x00800800, ecx1 & 0xFFFFFFFF, 0x178BFBFF)
    if hypervisor:
        hb = hypervisor.encode().ljust(12, b"\0")
        leaves["0x40000000/0"] = regs(0x40000001, *[int.from_bytes(hb[i:i + 4], "little") for i in (0, 4, 8)])
    if mem_enc is None and max_ext >= 0x8000001F:
        max_ext = 0x8000001E
    leaves["0x80000000/0"] = regs(max_ext, 0, 0, 0)
    leaves.update(brand_leaves(brand))
    leaves["0x80000008/0"] = regs(0x3030, 0, 0, 0)
    if mem_enc is not None:
        leaves["0x8000001f/0"] = regs(*mem_enc)
    return leaves

def ovmf_ranges(files):
    sizes, ranges, dirs = {}, {}, {}
    for path, fixture, size in files:
        data = open(os.path.join(HERE, "..", fixture), "rb").read()
        sizes[path] = size
        ranges[path] = [{"offset": size - 4096, "length": 4096, "data": base64.b64encode(data).decode()}]
        d, name = path.rsplit("/", 1)
        dirs.setdefault(d, []).append(name)
    return sizes, ranges, dirs

def ok(stdout):
    return {"status": 0, "stdout": stdout, "stderr": "", "timedOut": False}

def fail(status, stderr):
    return {"status": status, "stdout": "", "stderr": stderr, "timedOut": False}

QEMU_OBJECTS_BASE = ["authz-list", "can-bus", "cryptodev-backend", "filter-buffer", "input-linux", "iothread",
                     "memory-backend-file", "memory-backend-memfd", "memory-backend-ram", "rng-random", "sev-guest", "tls-creds-x509"]

def qemu_commands(version, snp, probe_runs=True):
    objects = QEMU_OBJECTS_BASE + (["sev-snp-guest"] if snp else [])
    cmds = {
        "qemu-system-x86_64 --version": ok("QEMU emulator version %s\nCopyright (c) 2003-2024 Fabrice Bellard and the QEMU Project developers\n" % version),
        "qemu-system-x86_64 -accel help": ok("Accelerators supported in QEMU binary:\ntcg\nkvm\n"),
        "qemu-system-x86_64 -object help": ok("List of user creatable objects:\n" + "".join("  %s\n" % o for o in sorted(objects))),
        "qemu-system-x86_64 -machine help": ok("Supported machines are:\npc                   Standard PC (i440FX + PIIX, 1996)\nq35                  Standard PC (Q35 + ICH9, 2009)\n"),
    }
    if snp:
        props = ["author-key-enabled", "cbitpos", "guest-visible-workarounds", "host-data", "id-auth", "id-block",
                 "kernel-hashes", "policy", "reduced-phys-bits", "vcek-disabled"]
        cmds["qemu-system-x86_64 -object sev-snp-guest,help"] = ok("sev-snp-guest options:\n" + "".join("  %s=<str>\n" % p for p in props))
    for model in (None, "host,-arch-capabilities"):
        argv = ["qemu-system-x86_64", "-accel", "kvm", "-machine", "q35", "-m", "32", "-nodefaults", "-display", "none",
                "-bios", "<probe-bios>", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01"]
        if model:
            argv += ["-cpu", model]
        cmds[" ".join(argv)] = {"status": 85, "stdout": "", "stderr": "", "timedOut": False} if probe_runs else fail(1, "KVM internal error")
    return cmds

def libvirt_commands(version, sev, cbit=51):
    domcaps = "<domainCapabilities>\n  <features>\n"
    if sev:
        domcaps += ("    <sev supported='yes'>\n      <cbitpos>%d</cbitpos>\n      <reducedPhysBits>1</reducedPhysBits>\n"
                    "      <maxGuests>409</maxGuests>\n      <maxESGuests>99</maxESGuests>\n    </sev>\n" % cbit)
    else:
        domcaps += "    <sev supported='no'/>\n"
    domcaps += "  </features>\n</domainCapabilities>\n"
    return {
        "virsh --version": ok(version + "\n"),
        "virsh -c qemu:///system domcapabilities --virttype kvm --arch x86_64": ok(domcaps),
    }

def amd_host(description, brand, fms, mem_enc, syscfg, rmp, modules, params, kernel, sev_status, snp_status, snp_failure,
             qemu_version, qemu_snp, libvirt_version, libvirt_sev, ovmf, cbit):
    sizes, ranges, dirs = ovmf_ranges(ovmf)
    texts = {"/sys/module/kvm_amd/parameters/%s" % k: v + "\n" for k, v in params.items()}
    msrs = {"0xc0010010": {"value": "0x%x" % syscfg}}
    if rmp:
        msrs["0xc0010132"] = {"value": "0x%x" % rmp[0]}
        msrs["0xc0010133"] = {"value": "0x%x" % rmp[1]}
    rec = {
        "description": description,
        "system": {"kernelRelease": kernel, "hostname": description.split(":")[0], "memlockLimitBytes": None},
        "cpuid": cpu("AuthenticAMD", brand, *fms, mem_enc=mem_enc),
        "msrs": msrs,
        "texts": texts,
        "access": {"/dev/sev": "read-write"},
        "directories": {"/sys/module": sorted(modules), **dirs},
        "sizes": sizes,
        "ranges": ranges,
        "kvm": {"deviceAccess": "read-write", "apiVersion": 12, "vmCreated": True, "vcpuCreated": True, "guestRanToHalt": True},
        "sevPlatformStatus": sev_status,
        "commands": {**qemu_commands(qemu_version, qemu_snp), **libvirt_commands(libvirt_version, libvirt_sev, cbit)},
    }
    if snp_status:
        rec["snpPlatformStatus"] = snp_status
    if snp_failure:
        rec["snpFailure"] = snp_failure
    return rec

OVMF_SNP = [("/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf_OvmfX64_suffix.bin", 0x400000),
            ("/usr/share/OVMF/OVMF.amdsev.fd", "ovmf_AmdSev_suffix.bin", 0x200000)]
OVMF_STD = [("/usr/share/OVMF/OVMF_CODE.fd", "ovmf_OvmfX64_suffix.bin", 0x200000)]

hosts = {
    "milan-snp-ready": amd_host(
        "milan-snp-ready: EPYC 7763, SNP enabled in BIOS, Linux 6.11, QEMU 9.2, libvirt 10.10",
        "AMD EPYC 7763 64-Core Processor", (0x19, 0x01, 1),
        (0x0101FD3F, 0x4000 | (1 << 6) | 51, 509, 100), 0x03F40000, (0x88000000, 0xA81FFFFF),
        ["ccp", "kvm", "kvm_amd"], {"sev": "Y", "sev_es": "Y", "sev_snp": "Y"}, "6.11.0-1-amd64",
        {"apiMajor": 1, "apiMinor": 55, "state": 1, "flags": 0x100, "build": 21, "guestCount": 0},
        {"apiMajor": 1, "apiMinor": 55, "state": 1, "rmpFlags": 0x81, "buildID": 21, "configFlags": 0, "guestCount": 0,
         "currentTCB": 0xD315000000000004, "reportedTCB": 0xD315000000000004}, None,
        "9.2.0", True, "10.10.0", True, OVMF_SNP, 51),
    "genoa-snp-disabled": amd_host(
        "genoa-snp-disabled: EPYC 9654, SNP disabled in BIOS, Ubuntu 24.04 (Linux 6.8), QEMU 8.2, libvirt 10.0",
        "AMD EPYC 9654 96-Core Processor", (0x19, 0x11, 1),
        (0x0101FD3F, 0x4000 | (1 << 6) | 51, 1006, 100), 0x00F40000, None,
        ["ccp", "kvm", "kvm_amd"], {"sev": "Y", "sev_es": "Y"}, "6.8.0-45-generic",
        {"apiMajor": 1, "apiMinor": 55, "state": 1, "flags": 0x100, "build": 37, "guestCount": 1}, None,
        {"errno": 5, "firmwareError": 0},
        "8.2.2", False, "10.0.0", True, OVMF_SNP, 51),
    "rome-sev-es": amd_host(
        "rome-sev-es: EPYC 7742 (SEV and SEV-ES only), Linux 5.15, QEMU 6.2, libvirt 8.0",
        "AMD EPYC 7742 64-Core Processor", (0x17, 0x31, 0),
        (0x0000000F, (1 << 6) | 47, 509, 100), 0x00F40000, None,
        ["ccp", "kvm", "kvm_amd"], {"sev": "1", "sev_es": "1"}, "5.15.0-119-generic",
        {"apiMajor": 0, "apiMinor": 24, "state": 1, "flags": 0x100, "build": 15, "guestCount": 0}, None,
        {"errno": 22, "firmwareError": 0},
        "6.2.0", False, "8.0.0", True, OVMF_STD, 47),
}

intel = {
    "description": "intel-sapphire-rapids: Xeon Platinum 8480+, kvm_intel without TDX, Linux 6.8",
    "system": {"kernelRelease": "6.8.0-45-generic", "hostname": "intel-sapphire-rapids", "memlockLimitBytes": 8388608},
    "cpuid": cpu("GenuineIntel", "Intel(R) Xeon(R) Platinum 8480+", 0x6, 0x8F, 8, mem_enc=None, max_ext=0x80000008),
    "directories": {"/sys/module": ["kvm", "kvm_intel"]},
    "texts": {},
    "access": {},
    "kvm": {"deviceAccess": "read-write", "apiVersion": 12, "vmCreated": True, "vcpuCreated": True, "guestRanToHalt": True},
    "commands": {**qemu_commands("8.2.2", False), **libvirt_commands("10.0.0", False)},
}
hosts["intel-sapphire-rapids"] = intel

# TDX hosts (Linux Documentation/arch/x86/tdx.rst, virt/kvm/x86/intel-tdx.rst): MSR 0x87
# IA32_MKTME_KEYID_PARTITIONING (MKTME KeyIDs in 31:0, TDX private KeyIDs in 63:32), kvm_intel's tdx
# parameter, the module state in /sys/firmware/tdx, QEMU's tdx-guest and a TDVF (the real tail of
# Debian's OVMF.inteltdx.ms.fd in ../tdvf_IntelTdx_suffix.bin).
TDVF = [("/usr/share/ovmf/OVMF.inteltdx.ms.fd", "tdvf_IntelTdx_suffix.bin", 0x400000)]

def qemu_tdx_commands(version):
    cmds = qemu_commands(version, True)
    objects = QEMU_OBJECTS_BASE + ["sev-snp-guest", "tdx-guest"]
    cmds["qemu-system-x86_64 -object help"] = ok("List of user creatable objects:\n" + "".join("  %s\n" % o for o in sorted(objects)))
    return cmds

def intel_tdx_host(description, brand, fms, kernel, keyids, tdx_param, module):
    sizes, ranges, dirs = ovmf_ranges(TDVF)
    texts = {}
    if tdx_param is not None:
        texts["/sys/module/kvm_intel/parameters/tdx"] = tdx_param + "\n"
    if module:
        for key, value in module.items():
            texts["/sys/firmware/tdx/tdx_module/%s" % key] = value + "\n"
    return {
        "description": description,
        "system": {"kernelRelease": kernel, "hostname": description.split(":")[0], "memlockLimitBytes": None},
        "cpuid": cpu("GenuineIntel", brand, *fms, mem_enc=None, max_ext=0x80000008),
        "msrs": {"0x87": {"value": "0x%x" % keyids}},
        "texts": texts,
        "access": {},
        "directories": {"/sys/module": ["kvm", "kvm_intel"], **dirs},
        "sizes": sizes,
        "ranges": ranges,
        "kvm": {"deviceAccess": "read-write", "apiVersion": 12, "vmCreated": True, "vcpuCreated": True, "guestRanToHalt": True},
        "commands": {**qemu_tdx_commands("11.1.3"), **libvirt_commands("12.9.0", False)},
    }

hosts["intel-emerald-rapids-tdx-ready"] = intel_tdx_host(
    "intel-emerald-rapids-tdx-ready: Xeon Platinum 8592+, TDX enabled in BIOS (31 MKTME, 32 TDX KeyIDs), Linux 6.16, kvm_intel tdx=Y, TDX module 1.5.16, QEMU 11.1, TDVF",
    "INTEL(R) XEON(R) PLATINUM 8592+", (0x6, 0xCF, 2), "6.16.9+deb13-amd64", (32 << 32) | 31, "Y",
    {"status": "initialized", "major_version": "1", "minor_version": "5", "update_version": "16", "build_num": "1060"})
hosts["intel-sapphire-rapids-tdx-bios-off"] = intel_tdx_host(
    "intel-sapphire-rapids-tdx-bios-off: Xeon Platinum 8480+, TDX off in BIOS (no TDX KeyIDs), Linux 6.16, kvm_intel tdx=N, QEMU 11.1, TDVF",
    "Intel(R) Xeon(R) Platinum 8480+", (0x6, 0x8F, 8), "6.16.9+deb13-amd64", 63, "N", None)

for name, rec in hosts.items():
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(rec, f, indent=2, sort_keys=True)
        f.write("\n")
print("wrote", ", ".join(sorted(hosts)))
