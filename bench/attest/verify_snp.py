#!/usr/bin/env python3
"""Peer implementation of `cvm attest verify` with the Python `cryptography` package: the same checks
(pinned ARK self-signed, ASK/ASVK signed by the ARK, VCEK/VLEK signed by the ASK/ASVK, validity at a
time, ECDSA P-384 report signature, VCEK SPLs equal to REPORTED_TCB, hwID equal to CHIP_ID, DEBUG and
MIGRATE_MA refused, expected measurement). Usage:
  verify_snp.py REPORT CERT ROOTS_DIR PRODUCT [--at EPOCH] [--measurement HEX] [--bench N]
With --bench N the chain is checked once and the report N times in-process; prints reports per second."""
import argparse
import datetime
import hashlib
import struct
import sys
import time
import warnings

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

# AMD VCEKs have serial number 0, which cryptography warns about; it is what AMD issues.
warnings.filterwarnings("ignore", message="Parsed a serial number")
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
PINS = {
    "milan": "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    "genoa": "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    "turin": "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
}


def load(path):
    data = open(path, "rb").read()
    return x509.load_pem_x509_certificate(data) if data.startswith(b"-----") else x509.load_der_x509_certificate(data)


def signed_by(cert, issuer):
    try:
        issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes, PSS, hashes.SHA384())
        return cert.issuer == issuer.subject
    except InvalidSignature:
        return False


def check_chain(cert, roots_dir, product, at, vlek):
    ark = load(f"{roots_dir}/{product}/ark.pem")
    inter = load(f"{roots_dir}/{product}/{'asvk' if vlek else 'ask'}.pem")
    der = ark.public_bytes(serialization.Encoding.DER)
    checks = {
        "root": hashlib.sha256(der).hexdigest() == PINS[product] and signed_by(ark, ark),
        "intermediate": signed_by(inter, ark),
        "endorsement-key": signed_by(cert, inter),
        "validity": all(c.not_valid_before_utc <= at <= c.not_valid_after_utc for c in (ark, inter, cert)),
    }
    return checks


def extension_int(cert, oid):
    try:
        value = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value.value
    except x509.ExtensionNotFound:
        return None
    return int.from_bytes(value[2:2 + value[1]], "big") if value[0] == 0x02 else None


def check_report(raw, cert, product, measurement):
    turin = product == "turin"
    (version,) = struct.unpack_from("<I", raw, 0)
    (policy,) = struct.unpack_from("<Q", raw, 8)
    (reported,) = struct.unpack_from("<Q", raw, 0x180)
    r = int.from_bytes(raw[0x2A0:0x2A0 + 48], "little")
    s = int.from_bytes(raw[0x2E8:0x2E8 + 48], "little")
    checks = {}
    try:
        cert.public_key().verify(encode_dss_signature(r, s), raw[:0x2A0], ec.ECDSA(hashes.SHA384()))
        checks["report-signature"] = True
    except InvalidSignature:
        checks["report-signature"] = False
    b = reported.to_bytes(8, "little")
    parts = {"1": b[1], "2": b[2], "3": b[3], "8": b[7], "9": b[0]} if turin else {"1": b[0], "2": b[1], "3": b[6], "8": b[7]}
    checks["tcb"] = all(extension_int(cert, f"1.3.6.1.4.1.3704.1.3.{k}") == v for k, v in parts.items())
    signer = (struct.unpack_from("<I", raw, 0x48)[0] >> 2) & 7
    if signer == 0:
        hwid = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.4")).value.value
        checks["hwid"] = hwid == raw[0x1A0:0x1A0 + (8 if turin else 64)]
    checks["guest-policy"] = not (policy >> 19) & 1 and not (policy >> 18) & 1
    if measurement:
        checks["measurement"] = raw[0x90:0xC0].hex() == measurement
    return checks


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("report")
    parser.add_argument("cert")
    parser.add_argument("roots")
    parser.add_argument("product")
    parser.add_argument("--at", type=float)
    parser.add_argument("--measurement")
    parser.add_argument("--bench", type=int)
    args = parser.parse_args()
    at = datetime.datetime.fromtimestamp(args.at, datetime.timezone.utc) if args.at else datetime.datetime.now(datetime.timezone.utc)
    raw = open(args.report, "rb").read()
    if len(raw) != 1184:
        sys.exit("bad report size")
    cert = load(args.cert)
    vlek = (struct.unpack_from("<I", raw, 0x48)[0] >> 2) & 7 == 1
    chain = check_chain(cert, args.roots, args.product.lower(), at, vlek)
    if args.bench:
        start = time.perf_counter()
        cpu_start = time.process_time()
        passed = 0
        for _ in range(args.bench):
            passed += all(check_report(raw, cert, args.product.lower(), args.measurement).values())
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        print(f"iterations={args.bench} passed={passed} seconds={seconds} per_second={args.bench / seconds} "
              f"cpu_seconds={cpu} per_cpu_second={args.bench / cpu}")
        return
    checks = {**chain, **check_report(raw, cert, args.product.lower(), args.measurement)}
    for name, ok in checks.items():
        print(f"{'pass' if ok else 'FAIL'}  {name}")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
