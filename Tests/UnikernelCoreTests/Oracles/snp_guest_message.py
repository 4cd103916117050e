#!/usr/bin/env python3
"""An independent SNP guest message codec for the tests, written from the SEV-SNP Firmware ABI's
"Message Header Format" with Python `cryptography`'s AESGCM (no CVMKit code).

  snp_guest_message.py seal KEYHEX SEQNO TYPE VMPCK PAYLOADHEX   -> message hex (header + ciphertext)
  snp_guest_message.py open KEYHEX MESSAGEHEX                     -> "SEQNO TYPE VMPCK PAYLOADHEX", or exit 1

Header (0x60 bytes): authtag[32] @0x00, msg_seqno u64 @0x20, reserved[8], algo u8 @0x30 (1 = AES-256-GCM),
hdr_version u8 @0x31 (1), hdr_size u16 @0x32 (0x60), msg_type u8 @0x34, msg_version u8 @0x35 (1),
msg_size u16 @0x36, reserved u32, msg_vmpck u8 @0x3C, reserved[35]. AAD = header[0x30:0x60];
IV = msg_seqno little-endian, zero-padded to 12 bytes; tag = the first 16 bytes of authtag.
"""
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HEADER = struct.Struct("<32sQ8sBBHBBHIB35s")
assert HEADER.size == 0x60


def seal(key, seqno, msg_type, vmpck, payload):
    header = bytearray(HEADER.pack(b"\0" * 32, seqno, b"\0" * 8, 1, 1, 0x60, msg_type, 1, len(payload), 0, vmpck, b"\0" * 35))
    iv = struct.pack("<Q", seqno) + b"\0" * 4
    sealed = AESGCM(key).encrypt(iv, payload, bytes(header[0x30:0x60]))
    ciphertext, tag = sealed[:-16], sealed[-16:]
    header[0:16] = tag
    return bytes(header) + ciphertext


def open_message(key, message):
    if len(message) < 0x60:
        raise ValueError("truncated")
    _, seqno, _, algo, version, size, msg_type, _, msg_size, _, vmpck, _ = HEADER.unpack(message[:0x60])
    if algo != 1 or version != 1 or size != 0x60 or 0x60 + msg_size > len(message):
        raise ValueError("bad header")
    iv = struct.pack("<Q", seqno) + b"\0" * 4
    ciphertext = message[0x60:0x60 + msg_size]
    payload = AESGCM(key).decrypt(iv, ciphertext + message[0:16], message[0x30:0x60])
    return seqno, msg_type, vmpck, payload


def main(argv):
    if argv[1] == "seal":
        print(seal(bytes.fromhex(argv[2]), int(argv[3]), int(argv[4]), int(argv[5]), bytes.fromhex(argv[6])).hex())
        return 0
    if argv[1] == "open":
        try:
            seqno, msg_type, vmpck, payload = open_message(bytes.fromhex(argv[2]), bytes.fromhex(argv[3]))
        except (InvalidTag, ValueError) as error:
            print("error: %s" % (type(error).__name__,))
            return 1
        print(seqno, msg_type, vmpck, payload.hex())
        return 0
    print("usage: seal|open", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
