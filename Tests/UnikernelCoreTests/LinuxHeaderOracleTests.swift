import Foundation
import Testing
@testable import UnikernelCore

/// The Linux kernel's own definitions as the oracle for the confidential ABI: the struct blocks and
/// defines are cut out of Debian's linux-headers-*-common (asm/sev-common.h, asm/svm.h, asm/sev.h,
/// uapi/asm/svm.h) and linux-libc-dev (linux/sev-guest.h) in this run, compiled by gcc into a program
/// that prints offsets, sizes, constants and encoded values, and each is compared with ours. Nothing
/// of the kernel's is copied into the repository; the headers are read where Debian installs them.
enum LinuxHeaders {
    /// The newest installed common headers that carry the SNP guest structures.
    static let directory: String? = {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/usr/src") else { return nil }
        let candidates = names.filter { $0.hasPrefix("linux-headers-") && $0.hasSuffix("-common") }.sorted {
            $0.compare($1, options: .numeric) == .orderedAscending
        }
        return candidates.reversed().map { "/usr/src/\($0)/arch/x86/include" }.first { include in
            let sev = (try? String(contentsOfFile: include + "/asm/sev.h", encoding: .utf8)) ?? ""
            return sev.contains("struct snp_secrets_page") && sev.contains("struct snp_guest_msg_hdr")
        }
    }()

    static var gcc: String? { ["/usr/bin/gcc", "/usr/bin/cc"].first { FileManager.default.isExecutableFile(atPath: $0) } }
    static var available: Bool { directory != nil && gcc != nil && FileManager.default.fileExists(atPath: "/usr/include/linux/sev-guest.h") }
    static let skipReason: Comment = "needs linux-headers-6.12.*-common, linux-libc-dev and gcc (scripts/install-deps)"

    struct Missing: Error, CustomStringConvertible { var description: String }

    /// `#define NAME …` with its continuation lines.
    static func define(_ name: String, in text: String) throws -> String {
        var lines = text.components(separatedBy: "\n")[...]
        while let line = lines.first {
            lines = lines.dropFirst()
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "(" })
            guard words.count >= 2, words[0] == "#define", words[1] == name else { continue }
            var block = [line]
            while block.last!.hasSuffix("\\"), let next = lines.first {
                block.append(next)
                lines = lines.dropFirst()
            }
            return block.joined(separator: "\n")
        }
        throw Missing(description: "no #define \(name)")
    }

    /// `struct NAME { … };` or `enum NAME { … };`, braces balanced.
    static func block(_ opening: String, in text: String) throws -> String {
        guard let start = text.range(of: opening + " {") else { throw Missing(description: "no \(opening) block") }
        var depth = 0
        var index = start.lowerBound
        while index < text.endIndex {
            if text[index] == "{" { depth += 1 }
            if text[index] == "}" {
                depth -= 1
                if depth == 0, let semicolon = text[index...].firstIndex(of: ";") {
                    return String(text[start.lowerBound...semicolon])
                }
            }
            index = text.index(after: index)
        }
        throw Missing(description: "\(opening) does not close")
    }

    /// Compiles `body` (statements using P(name, value)) after the cut-out definitions; returns name → value.
    static func evaluate(_ body: String) throws -> [String: UInt64] {
        let include = try #require(directory)
        let sevCommon = try String(contentsOfFile: include + "/asm/sev-common.h", encoding: .utf8)
        let svm = try String(contentsOfFile: include + "/asm/svm.h", encoding: .utf8)
        let uapiSVM = try String(contentsOfFile: include + "/uapi/asm/svm.h", encoding: .utf8)
        let sev = try String(contentsOfFile: include + "/asm/sev.h", encoding: .utf8)
        var source = """
        #include <stddef.h>
        #include <stdint.h>
        #include <stdio.h>
        #include <string.h>
        #include <linux/sev-guest.h>
        typedef uint8_t u8; typedef uint16_t u16; typedef uint32_t u32; typedef uint64_t u64;
        #define __packed __attribute__((packed))
        #define BIT_ULL(n) (1ULL << (n))
        #define GENMASK_ULL(h, l) (((~0ULL) << (l)) & (~0ULL >> (63 - (h))))
        #define PAGE_SIZE 4096
        #define P(name, value) printf("%s %llu\\n", name, (unsigned long long)(value))

        """
        let commonDefines = ["GHCB_MSR_INFO_POS", "GHCB_DATA_LOW", "GHCB_MSR_INFO_MASK", "GHCB_MSR_SEV_INFO_RESP", "GHCB_MSR_SEV_INFO_REQ",
                             "GHCB_MSR_SEV_INFO", "GHCB_MSR_INFO", "GHCB_MSR_PROTO_MAX", "GHCB_MSR_PROTO_MIN",
                             "GHCB_MSR_CPUID_REQ", "GHCB_MSR_CPUID_RESP", "GHCB_CPUID_REQ",
                             "GHCB_MSR_PREF_GPA_REQ", "GHCB_MSR_PREF_GPA_RESP", "GHCB_MSR_REG_GPA_REQ", "GHCB_MSR_REG_GPA_REQ_VAL",
                             "GHCB_MSR_REG_GPA_RESP", "GHCB_MSR_REG_GPA_RESP_VAL", "GHCB_MSR_PSC_REQ", "GHCB_MSR_PSC_REQ_GFN",
                             "GHCB_MSR_PSC_RESP", "GHCB_MSR_PSC_RESP_VAL", "GHCB_MSR_HV_FT_REQ", "GHCB_MSR_HV_FT_RESP",
                             "GHCB_MSR_HV_FT_RESP_VAL", "GHCB_HV_FT_SNP", "GHCB_HV_FT_SNP_AP_CREATION", "GHCB_HV_FT_SNP_MULTI_VMPL",
                             "VMGEXIT_PSC_MAX_ENTRY", "VMGEXIT_PSC_MAX_COUNT", "GHCB_MSR_TERM_REQ", "GHCB_SEV_TERM_REASON",
                             "GHCB_SEV_ES_GEN_REQ", "GHCB_SEV_ES_PROT_UNSUPPORTED", "GHCB_SNP_UNSUPPORTED", "GHCB_TERM_REGISTER",
                             "GHCB_TERM_PSC", "GHCB_TERM_PVALIDATE", "GHCB_TERM_NOT_VMPL0", "GHCB_TERM_CPUID", "GHCB_TERM_CPUID_HV",
                             "GHCB_TERM_SECRETS_PAGE"]
        for name in commonDefines { source += try define(name, in: sevCommon) + "\n" }
        for opening in ["enum psc_op", "struct psc_hdr", "struct psc_entry"] { source += try block(opening, in: sevCommon) + "\n" }
        for name in ["SVM_IOIO_STR_SHIFT", "SVM_IOIO_REP_SHIFT", "SVM_IOIO_SIZE_SHIFT", "SVM_IOIO_ASIZE_SHIFT", "SVM_IOIO_TYPE_MASK",
                     "GHCB_SHARED_BUF_SIZE", "EXPECTED_GHCB_SAVE_AREA_SIZE", "EXPECTED_GHCB_SIZE"] {
            source += try define(name, in: svm) + "\n"
        }
        for opening in ["struct ghcb_save_area", "struct ghcb"] { source += try block(opening, in: svm) + "\n" }
        for name in ["SVM_EXIT_RDTSC", "SVM_EXIT_CPUID", "SVM_EXIT_HLT", "SVM_EXIT_IOIO", "SVM_EXIT_MSR", "SVM_EXIT_VMMCALL",
                     "SVM_EXIT_RDTSCP", "SVM_EXIT_WBINVD", "SVM_VMGEXIT_MMIO_READ", "SVM_VMGEXIT_MMIO_WRITE", "SVM_VMGEXIT_PSC",
                     "SVM_VMGEXIT_GUEST_REQUEST", "SVM_VMGEXIT_EXT_GUEST_REQUEST", "SVM_VMGEXIT_HV_FEATURES",
                     "SVM_VMGEXIT_TERM_REQUEST", "SVM_VMGEXIT_UNSUPPORTED_EVENT"] {
            source += try define(name, in: uapiSVM) + "\n"
        }
        for name in ["GHCB_PROTOCOL_MIN", "GHCB_PROTOCOL_MAX", "GHCB_DEFAULT_USAGE", "MAX_AUTHTAG_LEN", "VMPCK_KEY_LEN", "CC_BLOB_SEV_HDR_MAGIC"] {
            source += try define(name, in: sev) + "\n"
        }
        for opening in ["enum msg_type", "enum aead_algo", "struct snp_guest_msg_hdr", "struct snp_guest_msg",
                        "struct secrets_os_area", "struct snp_secrets_page", "struct cc_blob_sev_info"] {
            source += try block(opening, in: sev) + "\n"
        }
        source += "int main(void) {\n" + body + "\nreturn 0;\n}\n"

        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-linux-oracle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        try source.write(to: work.appendingPathComponent("oracle.c"), atomically: true, encoding: .utf8)
        let compiled = try run([try #require(gcc), "-std=gnu11", "-Wall", "-Werror", "-o", work.appendingPathComponent("oracle").path,
                                work.appendingPathComponent("oracle.c").path])
        guard compiled.status == 0 else { throw Missing(description: "gcc failed:\n\(compiled.output)\n\(source)") }
        let ran = try run([work.appendingPathComponent("oracle").path])
        guard ran.status == 0 else { throw Missing(description: "oracle exited \(ran.status)") }
        var values: [String: UInt64] = [:]
        for line in ran.output.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = UInt64(parts[1]) { values[String(parts[0])] = value }
        }
        return values
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// Compares `ours` with the oracle's value of each name; every name must have been printed.
func expectOracle(_ oracle: [String: UInt64], _ ours: KeyValuePairs<String, UInt64>, sourceLocation: SourceLocation = #_sourceLocation) {
    for (name, value) in ours {
        #expect(oracle[name] != nil, "the oracle printed no \(name)", sourceLocation: sourceLocation)
        if let expected = oracle[name] {
            #expect(value == expected, "\(name): ours \(value), Linux \(expected)", sourceLocation: sourceLocation)
        }
    }
}

@Suite(.enabled(if: LinuxHeaders.available, LinuxHeaders.skipReason))
struct LinuxHeaderOracleTests {
    @Test func ghcbLayoutMatchesStructGHCB() throws {
        var body = "struct ghcb g; (void)g;\n"
        let names: [(GHCB.Field, String)] = [(.cpl, "cpl"), (.xss, "xss"), (.dr7, "dr7"), (.rip, "rip"), (.rsp, "rsp"), (.rax, "rax"),
                                             (.rcx, "rcx"), (.rdx, "rdx"), (.rbx, "rbx"), (.rbp, "rbp"), (.rsi, "rsi"), (.rdi, "rdi"),
                                             (.r8, "r8"), (.r9, "r9"), (.r10, "r10"), (.r11, "r11"), (.r12, "r12"), (.r13, "r13"),
                                             (.r14, "r14"), (.r15, "r15"), (.exitCode, "sw_exit_code"), (.exitInfo1, "sw_exit_info_1"),
                                             (.exitInfo2, "sw_exit_info_2"), (.scratch, "sw_scratch"), (.xcr0, "xcr0")]
        #expect(names.count == GHCB.Field.allCases.count, "every field we define is checked")
        for (_, name) in names {
            body += "P(\"off_\(name)\", offsetof(struct ghcb_save_area, \(name))); P(\"width_\(name)\", sizeof(g.save.\(name)));\n"
        }
        body += """
        P("valid_bitmap", offsetof(struct ghcb_save_area, valid_bitmap)); P("valid_bitmap_size", sizeof(g.save.valid_bitmap));
        P("save_size", sizeof(struct ghcb_save_area)); P("expected_save_size", EXPECTED_GHCB_SAVE_AREA_SIZE);
        P("shared_buffer", offsetof(struct ghcb, shared_buffer)); P("shared_size", GHCB_SHARED_BUF_SIZE);
        P("protocol_version", offsetof(struct ghcb, protocol_version)); P("ghcb_usage", offsetof(struct ghcb, ghcb_usage));
        P("ghcb_size", sizeof(struct ghcb)); P("default_usage", GHCB_DEFAULT_USAGE);
        P("proto_min", GHCB_PROTOCOL_MIN); P("proto_max", GHCB_PROTOCOL_MAX);
        """
        let oracle = try LinuxHeaders.evaluate(body)
        for (field, name) in names {
            expectOracle(oracle, ["off_\(name)": UInt64(field.rawValue), "width_\(name)": UInt64(field.width)])
        }
        expectOracle(oracle, ["valid_bitmap": UInt64(GHCB.validBitmapOffset), "valid_bitmap_size": UInt64(GHCB.validBitmapSize),
                              "save_size": UInt64(GHCB.saveAreaSize), "expected_save_size": UInt64(GHCB.saveAreaSize),
                              "shared_buffer": UInt64(GHCB.sharedBufferOffset), "shared_size": UInt64(GHCB.sharedBufferSize),
                              "protocol_version": UInt64(GHCB.protocolVersionOffset), "ghcb_usage": UInt64(GHCB.usageOffset),
                              "ghcb_size": UInt64(GHCB.size), "default_usage": UInt64(GHCB.defaultUsage),
                              "proto_min": UInt64(GHCBMSRProtocol.protocolMinimum), "proto_max": UInt64(GHCBMSRProtocol.protocolMaximum)])
    }

    /// Linux sets a field's valid bit with `__set_bit(offsetof(field) / 8, valid_bitmap)`; ours writes
    /// the page, and the C program reads the bitmap back the way Linux's ghcb_*_is_valid does.
    @Test func validBitmapBitsMatchLinuxAccessors() throws {
        let page = UnsafeMutableRawPointer.allocate(byteCount: GHCB.size, alignment: 4096)
        defer { page.deallocate() }
        let ghcb = GHCB(page: page)
        var body = ""
        for field in GHCB.Field.allCases {
            ghcb.clear(protocolVersion: 2)
            ghcb.set(field, 0x1122_3344_5566_7788)
            let bitmap = (0..<16).map { String(page.load(fromByteOffset: GHCB.validBitmapOffset + $0, as: UInt8.self)) }.joined(separator: ",")
            // The C side: Linux's bit index for the field's offset, tested in the bitmap our code wrote.
            body += "{ u8 b[16] = {\(bitmap)}; unsigned i = \(field.rawValue) / sizeof(u64); P(\"bit_\(field.rawValue)\", (b[i / 8] >> (i % 8)) & 1);"
            body += " int n = 0; for (int k = 0; k < 16; k++) n += __builtin_popcount(b[k]); P(\"count_\(field.rawValue)\", n); }\n"
            #expect(ghcb.isValid(field) && ghcb.get(field) == (field == .cpl ? 0x88 : 0x1122_3344_5566_7788))
        }
        let oracle = try LinuxHeaders.evaluate(body)
        for field in GHCB.Field.allCases {
            expectOracle(oracle, ["bit_\(field.rawValue)": 1, "count_\(field.rawValue)": 1])
        }
    }

    @Test func msrProtocolMatchesSevCommonH() throws {
        let functions: [UInt32] = [0, 1, 0xd, 0x8000_001f, 0xffff_ffff]
        let frames: [UInt64] = [0, 1, 0x7_ffff, 0xf_ffff_ffff_ffff, 0x1234_5678_9abc]
        var body = ""
        for function in functions {
            for register in GHCBMSRProtocol.CPUIDRegister.allCases {
                body += "P(\"cpuid_\(function)_\(register.rawValue)\", GHCB_CPUID_REQ(\(function)u, \(register.rawValue)));\n"
            }
        }
        for frame in frames {
            body += "P(\"reg_\(frame)\", GHCB_MSR_REG_GPA_REQ_VAL(\(frame)ull));\n"
            body += "P(\"reg_resp_\(frame)\", GHCB_MSR_REG_GPA_RESP_VAL((\(frame)ull << 12) | GHCB_MSR_REG_GPA_RESP));\n"
            for op in [1, 2] { body += "P(\"psc_\(frame)_\(op)\", GHCB_MSR_PSC_REQ_GFN(\(frame)ull, \(op)));\n" }
        }
        for (set, code) in [(0, 0), (0, 1), (0, 2), (1, 4), (1, 19), (1, 255)] {
            body += "P(\"term_\(set)_\(code)\", GHCB_MSR_TERM_REQ | GHCB_SEV_TERM_REASON(\(set), \(code)));\n"
        }
        body += """
        P("info_req", GHCB_MSR_SEV_INFO_REQ); P("info_resp", GHCB_MSR_SEV_INFO_RESP); P("cpuid_resp", GHCB_MSR_CPUID_RESP);
        P("pref_req", GHCB_MSR_PREF_GPA_REQ); P("pref_resp", GHCB_MSR_PREF_GPA_RESP); P("psc_resp", GHCB_MSR_PSC_RESP);
        P("reg_req", GHCB_MSR_REG_GPA_REQ); P("reg_resp", GHCB_MSR_REG_GPA_RESP);
        P("hv_req", GHCB_MSR_HV_FT_REQ); P("hv_resp", GHCB_MSR_HV_FT_RESP);
        P("hv_snp", GHCB_HV_FT_SNP); P("hv_ap", GHCB_HV_FT_SNP_AP_CREATION); P("hv_vmpl", GHCB_HV_FT_SNP_MULTI_VMPL);
        P("hv_val", GHCB_MSR_HV_FT_RESP_VAL((0x23ull << 12) | GHCB_MSR_HV_FT_RESP));
        P("info_mask", GHCB_MSR_INFO_MASK); P("sev_info", GHCB_MSR_SEV_INFO(2ull, 1ull, 51ull));
        P("proto_max_of", GHCB_MSR_PROTO_MAX(GHCB_MSR_SEV_INFO(2ull, 1ull, 51ull))); P("proto_min_of", GHCB_MSR_PROTO_MIN(GHCB_MSR_SEV_INFO(2ull, 1ull, 51ull)));
        P("psc_resp_val", GHCB_MSR_PSC_RESP_VAL((7ull << 32) | GHCB_MSR_PSC_RESP));
        P("psc_max", VMGEXIT_PSC_MAX_COUNT); P("op_private", SNP_PAGE_STATE_PRIVATE); P("op_shared", SNP_PAGE_STATE_SHARED);
        P("t_gen", GHCB_SEV_ES_GEN_REQ); P("t_proto", GHCB_SEV_ES_PROT_UNSUPPORTED); P("t_snp", GHCB_SNP_UNSUPPORTED);
        P("t_reg", GHCB_TERM_REGISTER); P("t_psc", GHCB_TERM_PSC); P("t_pval", GHCB_TERM_PVALIDATE); P("t_vmpl", GHCB_TERM_NOT_VMPL0);
        P("t_cpuid", GHCB_TERM_CPUID); P("t_cpuid_hv", GHCB_TERM_CPUID_HV); P("t_secrets", GHCB_TERM_SECRETS_PAGE);
        """
        let oracle = try LinuxHeaders.evaluate(body)
        for function in functions {
            for register in GHCBMSRProtocol.CPUIDRegister.allCases {
                expectOracle(oracle, ["cpuid_\(function)_\(register.rawValue)": GHCBMSRProtocol.cpuidRequest(function: function, register: register)])
            }
        }
        for frame in frames {
            expectOracle(oracle, ["reg_\(frame)": GHCBMSRProtocol.registerGHCBRequest(frame: frame),
                                  "psc_\(frame)_1": GHCBMSRProtocol.pageStateChangeRequest(frame: frame, to: .private),
                                  "psc_\(frame)_2": GHCBMSRProtocol.pageStateChangeRequest(frame: frame, to: .shared)])
            // Our check accepts exactly the response Linux decodes back to the frame.
            let response = try #require(oracle["reg_resp_\(frame)"]) << 12 | GHCBMSRProtocol.Info.registerGHCBResponse.rawValue
            #expect(throws: Never.self) { try GHCBMSRProtocol.checkRegisterGHCBResponse(response, frame: frame) }
        }
        typealias Reason = GHCBMSRProtocol.UnikernelReason
        expectOracle(oracle, ["term_0_0": GHCBMSRProtocol.terminateRequest(.generalRequest), "term_0_1": GHCBMSRProtocol.terminateRequest(.protocolUnsupported),
                              "term_0_2": GHCBMSRProtocol.terminateRequest(.snpUnsupported), "term_1_4": GHCBMSRProtocol.terminateRequest(Reason.cpuid),
                              "term_1_19": GHCBMSRProtocol.terminateRequest(Reason.bootData),
                              "term_1_255": GHCBMSRProtocol.terminateRequest(set: .unikernel, code: 255)])
        typealias Info = GHCBMSRProtocol.Info
        expectOracle(oracle, ["info_req": GHCBMSRProtocol.sevInfoRequest, "info_resp": Info.sevInfoResponse.rawValue,
                              "cpuid_resp": Info.cpuidResponse.rawValue, "pref_req": Info.preferredGHCBRequest.rawValue,
                              "pref_resp": Info.preferredGHCBResponse.rawValue, "psc_resp": Info.pageStateChangeResponse.rawValue,
                              "reg_req": Info.registerGHCBRequest.rawValue, "reg_resp": Info.registerGHCBResponse.rawValue,
                              "hv_req": GHCBMSRProtocol.hypervisorFeaturesRequest, "hv_resp": Info.hypervisorFeaturesResponse.rawValue,
                              "hv_snp": GHCBMSRProtocol.HypervisorFeatures.snp.rawValue,
                              "hv_ap": GHCBMSRProtocol.HypervisorFeatures.snpAPCreation.rawValue,
                              "hv_vmpl": GHCBMSRProtocol.HypervisorFeatures.snpMultiVMPL.rawValue,
                              "info_mask": GHCBMSRProtocol.infoMask, "psc_max": UInt64(PageStateChange.maximumEntries),
                              "op_private": GHCBMSRProtocol.PageState.private.rawValue, "op_shared": GHCBMSRProtocol.PageState.shared.rawValue,
                              "t_gen": GHCBMSRProtocol.GeneralReason.generalRequest.rawValue,
                              "t_proto": GHCBMSRProtocol.GeneralReason.protocolUnsupported.rawValue,
                              "t_snp": GHCBMSRProtocol.GeneralReason.snpUnsupported.rawValue,
                              "t_reg": Reason.registerGHCB.rawValue, "t_psc": Reason.pageStateChange.rawValue,
                              "t_pval": Reason.pageValidation.rawValue, "t_vmpl": Reason.notVMPL0.rawValue, "t_cpuid": Reason.cpuid.rawValue,
                              "t_cpuid_hv": Reason.cpuidHypervisor.rawValue, "t_secrets": Reason.secretsPage.rawValue])
        // Responses Linux builds, decoded by us.
        let info = try GHCBMSRProtocol.sevInformation(try #require(oracle["sev_info"]))
        #expect(info == .init(maximumVersion: 2, minimumVersion: 1, encryptionBit: 51) && info.negotiatedVersion == 2)
        #expect(UInt64(info.maximumVersion) == oracle["proto_max_of"] && UInt64(info.minimumVersion) == oracle["proto_min_of"])
        let features = try GHCBMSRProtocol.hypervisorFeatures(0x23 << 12 | Info.hypervisorFeaturesResponse.rawValue)
        #expect(features.rawValue == oracle["hv_val"])
        #expect(throws: GHCBMSRProtocol.ResponseError.refused(7)) {
            try GHCBMSRProtocol.checkPageStateChangeResponse(7 << 32 | Info.pageStateChangeResponse.rawValue)
        }
        #expect(oracle["psc_resp_val"] == 7)
    }

    /// Entries encoded by our code against `struct psc_entry`'s bit-fields filled by gcc.
    @Test func pageStateChangeEntriesMatchStructPscEntry() throws {
        let samples: [PageStateChange.Entry] = [
            .init(frame: 0, operation: .private, isLarge: false),
            .init(frame: 0x200, operation: .shared, isLarge: true),
            .init(frame: 0xff_ffff_ffff, operation: .private, isLarge: true, currentPage: 0x1ff),
            .init(frame: 0x12_3456_789a, operation: .shared, isLarge: false, currentPage: 0xfff),
        ]
        var body = "P(\"hdr\", sizeof(struct psc_hdr)); P(\"entry\", sizeof(struct psc_entry)); P(\"end\", offsetof(struct psc_hdr, end_entry));\n"
        for (index, entry) in samples.enumerated() {
            body += "{ struct psc_entry e; memset(&e, 0, sizeof e); e.cur_page = \(entry.currentPage); e.gfn = \(entry.frame)ull;"
            body += " e.operation = \(entry.operation.rawValue); e.pagesize = \(entry.isLarge ? 1 : 0); u64 v; memcpy(&v, &e, 8); P(\"e\(index)\", v); }\n"
        }
        let oracle = try LinuxHeaders.evaluate(body)
        expectOracle(oracle, ["hdr": UInt64(PageStateChange.headerSize), "entry": UInt64(PageStateChange.entrySize), "end": 2])
        for (index, entry) in samples.enumerated() {
            expectOracle(oracle, ["e\(index)": entry.encoded])
            #expect(PageStateChange.decode(try #require(oracle["e\(index)"])) == entry)
        }
    }

    @Test func exitCodesAndIOIOFieldsMatchSvmH() throws {
        let body = """
        P("rdtsc", SVM_EXIT_RDTSC); P("cpuid", SVM_EXIT_CPUID); P("hlt", SVM_EXIT_HLT); P("ioio", SVM_EXIT_IOIO); P("msr", SVM_EXIT_MSR);
        P("vmmcall", SVM_EXIT_VMMCALL); P("rdtscp", SVM_EXIT_RDTSCP); P("wbinvd", SVM_EXIT_WBINVD);
        P("mmio_read", SVM_VMGEXIT_MMIO_READ); P("mmio_write", SVM_VMGEXIT_MMIO_WRITE); P("psc", SVM_VMGEXIT_PSC);
        P("guest_req", SVM_VMGEXIT_GUEST_REQUEST); P("ext_guest_req", SVM_VMGEXIT_EXT_GUEST_REQUEST);
        P("hv_features", SVM_VMGEXIT_HV_FEATURES); P("term", SVM_VMGEXIT_TERM_REQUEST); P("unsupported", SVM_VMGEXIT_UNSUPPORTED_EVENT);
        P("str", 1 << SVM_IOIO_STR_SHIFT); P("rep", 1 << SVM_IOIO_REP_SHIFT); P("size", SVM_IOIO_SIZE_SHIFT);
        P("asize", SVM_IOIO_ASIZE_SHIFT); P("type", SVM_IOIO_TYPE_MASK);
        """
        let oracle = try LinuxHeaders.evaluate(body)
        expectOracle(oracle, ["rdtsc": SVMExitCode.rdtsc.rawValue, "cpuid": SVMExitCode.cpuid.rawValue, "hlt": SVMExitCode.hlt.rawValue,
                              "ioio": SVMExitCode.ioio.rawValue, "msr": SVMExitCode.msr.rawValue, "vmmcall": SVMExitCode.vmmcall.rawValue,
                              "rdtscp": SVMExitCode.rdtscp.rawValue, "wbinvd": SVMExitCode.wbinvd.rawValue,
                              "mmio_read": SVMExitCode.mmioRead.rawValue, "mmio_write": SVMExitCode.mmioWrite.rawValue,
                              "psc": SVMExitCode.pageStateChange.rawValue, "guest_req": SVMExitCode.guestRequest.rawValue,
                              "ext_guest_req": SVMExitCode.extendedGuestRequest.rawValue,
                              "hv_features": SVMExitCode.hypervisorFeatures.rawValue, "term": SVMExitCode.terminate.rawValue,
                              "unsupported": SVMExitCode.unsupported.rawValue,
                              "str": IOIOExitInfo.stringBit, "rep": IOIOExitInfo.repBit, "size": IOIOExitInfo.sizeShift,
                              "asize": IOIOExitInfo.addressSizeShift, "type": IOIOExitInfo.inBit])
    }

    @Test func guestMessageSecretsAndReportLayoutsMatchSevH() throws {
        var body = ""
        for (name, field) in [("authtag", "authtag"), ("seqno", "msg_seqno"), ("algo", "algo"), ("hdr_version", "hdr_version"),
                              ("hdr_sz", "hdr_sz"), ("msg_type", "msg_type"), ("msg_version", "msg_version"), ("msg_sz", "msg_sz"),
                              ("vmpck", "msg_vmpck")] {
            body += "P(\"h_\(name)\", offsetof(struct snp_guest_msg_hdr, \(field)));\n"
        }
        body += """
        P("h_size", sizeof(struct snp_guest_msg_hdr)); P("payload", offsetof(struct snp_guest_msg, payload));
        P("payload_size", sizeof(((struct snp_guest_msg *)0)->payload)); P("tag_len", MAX_AUTHTAG_LEN);
        P("aes", SNP_AEAD_AES_256_GCM); P("report_req", SNP_MSG_REPORT_REQ); P("report_rsp", SNP_MSG_REPORT_RSP);
        P("key_req", SNP_MSG_KEY_REQ); P("cpuid_req", SNP_MSG_CPUID_REQ); P("vmrk_rsp", SNP_MSG_VMRK_RSP);
        P("s_version", offsetof(struct snp_secrets_page, version)); P("s_fms", offsetof(struct snp_secrets_page, fms));
        P("s_gosvw", offsetof(struct snp_secrets_page, gosvw)); P("s_vmpck0", offsetof(struct snp_secrets_page, vmpck0));
        P("s_vmpck1", offsetof(struct snp_secrets_page, vmpck1)); P("s_vmpck2", offsetof(struct snp_secrets_page, vmpck2));
        P("s_vmpck3", offsetof(struct snp_secrets_page, vmpck3)); P("s_os", offsetof(struct snp_secrets_page, os_area));
        P("s_os_size", sizeof(struct secrets_os_area)); P("s_seq1", offsetof(struct secrets_os_area, msg_seqno_1));
        P("s_seq3", offsetof(struct secrets_os_area, msg_seqno_3)); P("s_size", sizeof(struct snp_secrets_page));
        P("key_len", VMPCK_KEY_LEN);
        P("r_vmpl", offsetof(struct snp_report_req, vmpl)); P("r_size", sizeof(struct snp_report_req));
        P("r_user", sizeof(((struct snp_report_req *)0)->user_data));
        P("vmm_invalid_len", SNP_GUEST_VMM_ERR_INVALID_LEN); P("vmm_busy", SNP_GUEST_VMM_ERR_BUSY);
        P("vmm_shift", SNP_GUEST_VMM_ERR_SHIFT);
        """
        let oracle = try LinuxHeaders.evaluate(body)
        typealias Header = SNPGuestMessageHeader
        expectOracle(oracle, ["h_authtag": 0, "h_seqno": 0x20, "h_algo": 0x30, "h_hdr_version": 0x31, "h_hdr_sz": 0x32, "h_msg_type": 0x34,
                              "h_msg_version": 0x35, "h_msg_sz": 0x36, "h_vmpck": 0x3c, "h_size": UInt64(Header.size),
                              "payload": UInt64(Header.size), "payload_size": UInt64(Header.maximumPayload),
                              "aes": UInt64(Header.algorithmAES256GCM), "report_req": UInt64(Header.MessageType.reportRequest.rawValue),
                              "report_rsp": UInt64(Header.MessageType.reportResponse.rawValue),
                              "key_req": UInt64(Header.MessageType.keyRequest.rawValue), "cpuid_req": UInt64(Header.MessageType.cpuidRequest.rawValue),
                              "vmrk_rsp": UInt64(Header.MessageType.vmrkResponse.rawValue),
                              "s_version": 0, "s_fms": 8, "s_gosvw": 0x10, "s_vmpck0": UInt64(SNPSecretsPage.vmpckOffset),
                              "s_vmpck1": UInt64(SNPSecretsPage.vmpckOffset + 32), "s_vmpck2": UInt64(SNPSecretsPage.vmpckOffset + 64),
                              "s_vmpck3": UInt64(SNPSecretsPage.vmpckOffset + 96), "s_os": UInt64(SNPSecretsPage.osAreaOffset),
                              "s_os_size": UInt64(SNPSecretsPage.osAreaSize), "s_seq1": 4, "s_seq3": 12, "s_size": UInt64(SNPSecretsPage.size),
                              "key_len": UInt64(SNPSecretsPage.keySize), "r_vmpl": 0x40, "r_size": UInt64(SNPReportRequest.size), "r_user": 64,
                              "vmm_invalid_len": SNPGuestRequest.vmmErrorInvalidLength, "vmm_busy": SNPGuestRequest.vmmErrorBusy, "vmm_shift": 32])
        // Our writer puts each field where gcc says the kernel's struct has it.
        let header = SNPGuestMessageHeader(sequenceNumber: 0x0102_0304_0506_0708, messageType: .reportRequest, messageSize: 96, vmpck: 3)
        let bytes = header.bytes
        func at(_ name: String) throws -> UInt8 { bytes[Int(try #require(oracle[name]))] }
        #expect(try at("h_seqno") == 0x08 && bytes[0x27] == 0x01)
        #expect(try at("h_msg_type") == 5 && at("h_vmpck") == 3)
        #expect(try at("h_hdr_sz") == 0x60 && at("h_msg_sz") == 96)
    }

    /// OVMF's CC blob as Linux reads it (`struct cc_blob_sev_info`): our parser reads the fields where gcc
    /// puts them, and the kernel's OS-area sequence number is the u32 `msg_seqno_0` at the area's start.
    @Test func confidentialComputingBlobMatchesSevH() throws {
        let oracle = try LinuxHeaders.evaluate("""
        P("magic", CC_BLOB_SEV_HDR_MAGIC); P("size", sizeof(struct cc_blob_sev_info)); P("off_magic", offsetof(struct cc_blob_sev_info, magic));
        P("version", offsetof(struct cc_blob_sev_info, version)); P("secrets", offsetof(struct cc_blob_sev_info, secrets_phys));
        P("secrets_len", offsetof(struct cc_blob_sev_info, secrets_len)); P("cpuid", offsetof(struct cc_blob_sev_info, cpuid_phys));
        P("cpuid_len", offsetof(struct cc_blob_sev_info, cpuid_len)); P("seqno0", offsetof(struct secrets_os_area, msg_seqno_0));
        P("seqno0_size", sizeof(((struct secrets_os_area *)0)->msg_seqno_0));
        """)
        expectOracle(oracle, ["magic": UInt64(ConfidentialComputingBlob.magic), "size": UInt64(ConfidentialComputingBlob.size),
                              "seqno0": 0, "seqno0_size": 4])
        var bytes = [UInt8](repeating: 0, count: Int(try #require(oracle["size"])))
        func store(_ value: UInt64, width: Int, at name: String) throws {
            let offset = Int(try #require(oracle[name]))
            for byte in 0..<width { bytes[offset + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte))) }
        }
        try store(UInt64(ConfidentialComputingBlob.magic), width: 4, at: "off_magic")
        try store(2, width: 2, at: "version")
        try store(0x7f5e_0000, width: 8, at: "secrets")
        try store(4096, width: 4, at: "secrets_len")
        try store(0x7f5e_1000, width: 8, at: "cpuid")
        try store(8192, width: 4, at: "cpuid_len")
        let blob = try bytes.withUnsafeBytes { try ConfidentialComputingBlob(bytes: $0) }
        #expect(blob.version == 2 && blob.secretsAddress == 0x7f5e_0000 && blob.secretsLength == 4096)
        #expect(blob.cpuidAddress == 0x7f5e_1000 && blob.cpuidLength == 8192)
    }
}
