#!/usr/bin/env python3
"""MRTD of a TDVF, written from Intel's TDX Module ABI specification (TDH.MEM.PAGE.ADD and
TDH.MR.EXTEND) and the TDVF Design Guide's metadata layout, with Python's hashlib: the oracle the
Swift TDMeasurement is checked against. It shares no code with the Swift side.

usage: tdx_mrtd.py FIRMWARE   -> prints the MRTD in hex, or an error on stderr with exit 2
"""
import hashlib
import struct
import sys
import uuid

FOOTER = uuid.UUID("96b582de-1fb2-45f7-baea-a366c55a082d").bytes_le
TDX_METADATA = uuid.UUID("e47a6535-984a-4798-865e-4685a7bf8ec2").bytes_le


def footer_entries(image):
    # The GUIDed table ends 32 bytes before the image's end; each entry is data, u16 size, GUID.
    end = len(image) - 32
    size, guid = struct.unpack_from("<H16s", image, end - 18)
    if guid != FOOTER:
        raise SystemExit("no footer table")
    table_start = end - size
    cursor = end - 18
    entries = {}
    while cursor > table_start:
        size, guid = struct.unpack_from("<H16s", image, cursor - 18)
        entries[guid] = image[cursor - size:cursor - 18]
        cursor -= size
    return entries


def mrtd(image):
    offset = struct.unpack_from("<I", footer_entries(image)[TDX_METADATA])[0]
    base = len(image) - offset
    sig, length, version, count = struct.unpack_from("<4sIII", image, base)
    assert sig == b"TDVF" and version == 1 and length == 16 + 32 * count
    h = hashlib.sha384()
    for n in range(count):
        data_off, raw, addr, size, kind, attrs = struct.unpack_from("<IIQQII", image, base + 16 + 32 * n)
        for page_gpa in range(addr, addr + size, 4096):
            h.update(b"MEM.PAGE.ADD".ljust(16, b"\0") + struct.pack("<Q", page_gpa) + bytes(104))
            if attrs & 1:
                for gpa in range(page_gpa, page_gpa + 4096, 256):
                    h.update(b"MR.EXTEND".ljust(16, b"\0") + struct.pack("<Q", gpa) + bytes(104))
                    if kind in (0, 1):  # BFV, CFV: the image's bytes at DataOffset
                        at = data_off + (gpa - addr)
                        h.update(image[at:at + 256])
                    else:               # TempMem: zero pages
                        h.update(bytes(256))
    return h.hexdigest()


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        print(mrtd(f.read()))
