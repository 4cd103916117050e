#!/usr/bin/env python3
"""Decodes the first instruction of each 16-byte slot of a flat x86-64 binary with capstone and prints
one JSON object per slot: {"slot", "size", "mnemonic", "ops": [...]} or {"slot", "invalid": true}.
Operands: {"reg": NAME, "size": N}, {"imm": VALUE, "size": N}, {"mem": {"base", "index", "scale", "disp"}, "size": N}.

  capstone_decode.py FILE
"""
import json
import sys

import capstone
from capstone import x86


def main(path):
    code = open(path, "rb").read()
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = True
    for slot in range(len(code) // 16):
        chunk = code[16 * slot:16 * slot + 16]
        instructions = list(md.disasm(chunk, 0, count=1))
        if not instructions:
            print(json.dumps({"slot": slot, "invalid": True}))
            continue
        insn = instructions[0]
        ops = []
        for op in insn.operands:
            if op.type == x86.X86_OP_REG:
                ops.append({"reg": insn.reg_name(op.reg), "size": op.size})
            elif op.type == x86.X86_OP_IMM:
                ops.append({"imm": op.imm, "size": op.size})
            elif op.type == x86.X86_OP_MEM:
                mem = op.mem
                ops.append({"mem": {"base": insn.reg_name(mem.base) if mem.base else None,
                                    "index": insn.reg_name(mem.index) if mem.index else None,
                                    "scale": mem.scale, "disp": mem.disp,
                                    "segment": insn.reg_name(mem.segment) if mem.segment else None},
                            "size": op.size})
        prefixes = [p for p in insn.prefix if p]
        print(json.dumps({"slot": slot, "size": insn.size, "mnemonic": insn.mnemonic, "ops": ops, "prefixes": prefixes}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
