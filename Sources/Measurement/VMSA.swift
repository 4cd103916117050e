import SEVABI

/// The initial register state of one vCPU: the VMSA page (AMD APM vol. 2, table B-4 "VMSA layout, state
/// save area for SEV-ES"). SEV-ES measures it with SHA-256, SNP as a VMSA page in the SHA-384 chain.
/// Only the fields a VMM sets at reset are modelled; everything else is zero.
public struct VMSA: Sendable, Equatable {
    /// One segment register in the VMCB layout: selector, attributes, limit, base (16 bytes).
    public struct Segment: Sendable, Equatable {
        public var selector: UInt16
        public var attributes: UInt16
        public var limit: UInt32
        public var base: UInt64

        public init(_ selector: UInt16, _ attributes: UInt16, _ limit: UInt32, _ base: UInt64) {
            self.selector = selector
            self.attributes = attributes
            self.limit = limit
            self.base = base
        }

        var bytes: [UInt8] {
            selector.littleEndianBytes + attributes.littleEndianBytes + limit.littleEndianBytes + base.littleEndianBytes
        }
    }

    public static let pageSize = 4096
    /// Reset vector of the bootstrap processor.
    public static let bspEIP: UInt32 = 0xFFFF_FFF0
    /// The PAT MSR's power-on value (APM vol. 2, A.3).
    static let defaultPAT: UInt64 = 0x0007_0406_0007_0406

    public var es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr: Segment
    public var efer: UInt64 = 0x1000 // KVM sets EFER.SVME
    public var cr4: UInt64 = 0x40 // KVM sets CR4.MCE
    public var cr0: UInt64 = 0x10
    public var dr7: UInt64 = 0x400
    public var dr6: UInt64 = 0xFFFF_0FF0
    public var rflags: UInt64 = 0x2
    public var rip: UInt64
    public var gPAT: UInt64 = VMSA.defaultPAT
    public var rdx: UInt64
    public var sevFeatures: UInt64
    public var xcr0: UInt64 = 0x1
    public var mxcsr: UInt32
    public var x87FCW: UInt16

    /// The reset state a VMM gives a vCPU starting at `eip` (the BSP at 0xFFFFFFF0, APs at the firmware's
    /// SEV-ES reset block EIP). QEMU passes the CPUID signature in RDX and KVM's SEV_INIT2 FPU defaults;
    /// ec2 and gce pass RDX 0x600 and leave the FPU state zero; ec2 marks the BSP's CS not-accessed and
    /// SS/TR differently, gce programs its own PAT.
    public init(eip: UInt32, vmm: VMMType, vcpuSignature: UInt32, sevFeatures: UInt64) {
        var csAttributes: UInt16 = 0x9B, ssAttributes: UInt16 = 0x93, trAttributes: UInt16 = 0x8B
        switch vmm {
        case .qemu:
            rdx = UInt64(vcpuSignature)
            mxcsr = 0x1F80
            x87FCW = 0x37F
        case .ec2:
            if eip == Self.bspEIP { csAttributes = 0x9A }
            ssAttributes = 0x92
            trAttributes = 0x83
            rdx = 0x600
            mxcsr = 0
            x87FCW = 0
        case .gce:
            gPAT = 0x0007_0106
            rdx = 0x600
            mxcsr = 0
            x87FCW = 0
        }
        es = Segment(0, 0x93, 0xFFFF, 0)
        cs = Segment(0xF000, csAttributes, 0xFFFF, UInt64(eip & 0xFFFF_0000))
        ss = Segment(0, ssAttributes, 0xFFFF, 0)
        ds = Segment(0, 0x93, 0xFFFF, 0)
        fs = Segment(0, 0x93, 0xFFFF, 0)
        gs = Segment(0, 0x93, 0xFFFF, 0)
        gdtr = Segment(0, 0, 0xFFFF, 0)
        ldtr = Segment(0, 0x82, 0xFFFF, 0)
        idtr = Segment(0, 0, 0xFFFF, 0)
        tr = Segment(0, trAttributes, 0xFFFF, 0)
        rip = UInt64(eip & 0xFFFF)
        self.sevFeatures = sevFeatures
    }

    /// The state QEMU gives every vCPU of a COCONUT-SVSM guest: flat 32-bit protected mode at the SVSM
    /// entry point, SEV_FEATURES fixed to SNPActive (0x1). The x87 control word stays zero, matching the
    /// sev-snp-measure reference for this mode.
    public init(svsmEntry eip: UInt64, vcpuSignature: UInt32) {
        es = Segment(16, 0xC93, 0xFFFF_FFFF, 0)
        cs = Segment(8, 0xC9B, 0xFFFF_FFFF, 0)
        ss = Segment(16, 0xC93, 0xFFFF_FFFF, 0)
        ds = Segment(16, 0xC93, 0xFFFF_FFFF, 0)
        fs = Segment(16, 0xC93, 0xFFFF_FFFF, 0)
        gs = Segment(0, 0x93, 0xFFFF, 0)
        gdtr = Segment(0, 0, 0xFFFF, 0)
        ldtr = Segment(0, 0x82, 0xFFFF, 0)
        idtr = Segment(0, 0, 0xFFFF, 0)
        tr = Segment(0, 0x8B, 0xFFFF, 0)
        cr0 = 0x11
        rip = eip
        rdx = UInt64(vcpuSignature)
        sevFeatures = 0x1
        mxcsr = 0x1F80
        x87FCW = 0
    }

    /// The 4096-byte page with every field at its APM offset.
    public var page: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.pageSize)
        func put(_ bytes: [UInt8], at offset: Int) {
            out.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        }
        for (index, segment) in [es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr].enumerated() {
            put(segment.bytes, at: index * 16)
        }
        put(efer.littleEndianBytes, at: 0xD0)
        put(cr4.littleEndianBytes, at: 0x148)
        put(cr0.littleEndianBytes, at: 0x158)
        put(dr7.littleEndianBytes, at: 0x160)
        put(dr6.littleEndianBytes, at: 0x168)
        put(rflags.littleEndianBytes, at: 0x170)
        put(rip.littleEndianBytes, at: 0x178)
        put(gPAT.littleEndianBytes, at: 0x268)
        put(rdx.littleEndianBytes, at: 0x310)
        put(sevFeatures.littleEndianBytes, at: 0x3B0)
        put(xcr0.littleEndianBytes, at: 0x3E8)
        put(mxcsr.littleEndianBytes, at: 0x408)
        put(x87FCW.littleEndianBytes, at: 0x410)
        return out
    }
}
