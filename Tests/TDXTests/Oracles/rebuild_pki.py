#!/usr/bin/env python3
"""Rebuild the Intel SGX/TDX PKI of a real DCAP v4 TDX quote under a fresh test root CA.

Test tooling only. Intel's CA keys are not available, so to test that a quote whose PCK
certificate (or PCK CA) is revoked in a CRL we build is refused, this script produces
inputs under a throw-away PKI; dcap-qvl (PyPI, `verify_with_root_ca`) then judges them.
It proves nothing by itself: it only produces the quote, the collateral and the root.

Usage:
  rebuild_pki.py QUOTE COLLATERAL_JSON OUTDIR [--revoke pck|ca|none]

Writes:
  OUTDIR/root.der         the test root CA certificate (DER)
  OUTDIR/quote            the rebuilt quote
  OUTDIR/collateral.json  QuoteCollateralV3 JSON, same layout as the input

What is rebuilt (fresh P-256 keys on every run):
  * test root CA (self-signed, CA:true, pathlen 1);
  * PCK Platform CA signed by the root (CA:true, pathlen 0);
  * PCK leaf signed by the PCK CA, carrying verbatim the SGX extension
    (OID 1.2.840.113741.1.13.1: PPID, TCB, PCEID, FMSPC, ...) of the quote's real PCK leaf;
  * TCB signing certificate signed by the root; tcb_info and qe_identity are re-signed
    with it (ECDSA P-256 / SHA-256 over the exact raw JSON bytes, raw r||s hex);
  * root CA CRL (signed by the root) and PCK CRL (signed by the PCK CA), X.509 v2, DER.
    --revoke pck lists the leaf's serial in the PCK CRL, --revoke ca lists the PCK CA's
    serial in the root CRL, --revoke none (default) lists only an unrelated serial;
  * in the quote: the PEM chain of certification data type 5 becomes leaf+CA+root, the
    QE report signature is redone with the new PCK leaf key, and the type-5 size, the
    type-6 size and the signature-data length are fixed. Every other byte is unchanged
    (header, TD report, quote signature, attestation key, QE report, auth data, and any
    bytes after the signature data).

Exit status: 0 on success; on bad input one line on stderr and exit 2.
"""
import datetime
import json
import os
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

# Reference time of the vectors (dcap-qvl's verdict with Intel's root is UpToDate then).
REFERENCE_TIME = 1751624191
NOT_BEFORE = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
NOT_AFTER = datetime.datetime(2040, 1, 1, tzinfo=datetime.timezone.utc)
SGX_EXTENSION_OID = x509.ObjectIdentifier("1.2.840.113741.1.13.1")

# Distinctive serials, so the CRL entries are easy to recognise.
ROOT_SERIAL = 0x0C7E5700000000000000000000000001
PCK_CA_SERIAL = 0x0C7E5700000000000000000000000CA0
TCB_SIGNING_SERIAL = 0x0C7E5700000000000000000000000DB0
PCK_LEAF_SERIAL = 0x0C7E57DEADBEEFC0FFEE5EC0DE0BAD01
UNRELATED_SERIAL = 0x0C7E5700000000000000000000051DE5

COLLATERAL_FIELDS = [
    "pck_crl_issuer_chain", "root_ca_crl", "pck_crl",
    "tcb_info_issuer_chain", "tcb_info", "tcb_info_signature",
    "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature",
]

# DCAP v4 TDX quote layout.
HEADER_LEN = 48
TD10_BODY_LEN = 584
SIG_DATA_OFFSET = HEADER_LEN + TD10_BODY_LEN           # u32 signature-data length here
ECDSA_SIG_LEN = 64
ATTEST_KEY_LEN = 64
QE_REPORT_LEN = 384
QE_REPORT_SIG_LEN = 64
CERT_TYPE_QE_REPORT = 6
CERT_TYPE_PCK_CHAIN = 5


class BadInput(Exception):
    pass


def fail(message):
    sys.stderr.write("rebuild_pki: " + " ".join(str(message).split()) + "\n")
    sys.exit(2)


def parse_args(argv):
    revoke = "none"
    positional = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--revoke" and i + 1 < len(argv):
            revoke = argv[i + 1]
            i += 2
            continue
        if arg.startswith("--revoke="):
            revoke = arg.split("=", 1)[1]
        elif arg.startswith("-"):
            raise BadInput("unknown option %r; usage: rebuild_pki.py QUOTE COLLATERAL_JSON OUTDIR "
                           "[--revoke pck|ca|none]" % arg)
        else:
            positional.append(arg)
        i += 1
    if len(positional) != 3:
        raise BadInput("usage: rebuild_pki.py QUOTE COLLATERAL_JSON OUTDIR [--revoke pck|ca|none]")
    if revoke not in ("pck", "ca", "none"):
        raise BadInput("--revoke must be pck, ca or none, not %r" % revoke)
    return positional[0], positional[1], positional[2], revoke


# ---------------------------------------------------------------------------------------
# Quote parsing / rebuilding


def parse_quote(quote):
    """Return the offsets needed to rebuild the quote; raise BadInput on anything unexpected."""
    if len(quote) < SIG_DATA_OFFSET + 4:
        raise BadInput("quote too short (%d bytes)" % len(quote))
    version, att_key_type, tee_type = struct.unpack_from("<HHI", quote, 0)
    if version != 4:
        raise BadInput("quote version %d, expected 4" % version)
    if att_key_type != 2:
        raise BadInput("attestation key type %d, expected 2 (ECDSA P-256)" % att_key_type)
    if tee_type != 0x81:
        raise BadInput("TEE type 0x%x, expected 0x81 (TDX)" % tee_type)
    sig_len = struct.unpack_from("<I", quote, SIG_DATA_OFFSET)[0]
    sig_start = SIG_DATA_OFFSET + 4
    sig_end = sig_start + sig_len
    if sig_end > len(quote):
        raise BadInput("signature data length %d runs past the end of the quote" % sig_len)
    cd6 = sig_start + ECDSA_SIG_LEN + ATTEST_KEY_LEN
    if cd6 + 6 > sig_end:
        raise BadInput("signature data too short for certification data")
    type6, size6 = struct.unpack_from("<HI", quote, cd6)
    if type6 != CERT_TYPE_QE_REPORT:
        raise BadInput("certification data type %d, expected 6" % type6)
    body6 = cd6 + 6
    if body6 + size6 != sig_end:
        raise BadInput("type-6 size %d does not match the signature data length" % size6)
    qe_report = body6
    qe_report_sig = qe_report + QE_REPORT_LEN
    auth_off = qe_report_sig + QE_REPORT_SIG_LEN
    if auth_off + 2 > sig_end:
        raise BadInput("type-6 data too short for the QE report")
    auth_len = struct.unpack_from("<H", quote, auth_off)[0]
    cd5 = auth_off + 2 + auth_len
    if cd5 + 6 > sig_end:
        raise BadInput("QE auth data length %d runs past the certification data" % auth_len)
    type5, size5 = struct.unpack_from("<HI", quote, cd5)
    if type5 != CERT_TYPE_PCK_CHAIN:
        raise BadInput("inner certification data type %d, expected 5 (PCK chain)" % type5)
    pem_start = cd5 + 6
    if pem_start + size5 != sig_end:
        raise BadInput("type-5 size %d does not match the type-6 size" % size5)
    return {
        "sig_start": sig_start, "sig_end": sig_end, "cd6": cd6, "qe_report": qe_report,
        "qe_report_sig": qe_report_sig, "cd5": cd5, "pem_start": pem_start, "pem_end": sig_end,
    }


def rebuild_quote(quote, layout, new_pem, pck_leaf_key):
    qe_report = quote[layout["qe_report"]:layout["qe_report"] + QE_REPORT_LEN]
    qe_sig = raw_signature(pck_leaf_key, qe_report)
    # Type-6 body: QE report | new QE report signature | auth size + auth data | type 5.
    middle = quote[layout["qe_report_sig"] + QE_REPORT_SIG_LEN:layout["cd5"]]
    cd5 = struct.pack("<HI", CERT_TYPE_PCK_CHAIN, len(new_pem)) + new_pem
    body6 = qe_report + qe_sig + middle + cd5
    cd6 = struct.pack("<HI", CERT_TYPE_QE_REPORT, len(body6)) + body6
    sig_data = quote[layout["sig_start"]:layout["cd6"]] + cd6
    out = (quote[:SIG_DATA_OFFSET] + struct.pack("<I", len(sig_data)) + sig_data
           + quote[layout["sig_end"]:])
    # Sanity: the result parses back with the same layout rules.
    check = parse_quote(out)
    assert out[check["pem_start"]:check["pem_end"]] == new_pem
    return out


# ---------------------------------------------------------------------------------------
# PKI


def raw_signature(private_key, data):
    r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def name(common_name):
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CVMKit Test"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    ])


def make_cert(subject, subject_key, issuer, issuer_key, serial, ca, pathlen=None, extra=()):
    public = subject_key.public_key()
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer)
               .public_key(public)
               .serial_number(serial)
               .not_valid_before(NOT_BEFORE)
               .not_valid_after(NOT_AFTER)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer_key.public_key()), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
    if ca:
        usage = x509.KeyUsage(digital_signature=False, content_commitment=False,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              key_cert_sign=True, crl_sign=True, encipher_only=False,
                              decipher_only=False)
    else:
        usage = x509.KeyUsage(digital_signature=True, content_commitment=True,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              key_cert_sign=False, crl_sign=False, encipher_only=False,
                              decipher_only=False)
    builder = builder.add_extension(usage, critical=True)
    builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen), critical=True)
    for ext in extra:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    return builder.sign(issuer_key, hashes.SHA256())


def make_crl(issuer_cert, issuer_key, revoked_serials):
    now = datetime.datetime.fromtimestamp(REFERENCE_TIME, tz=datetime.timezone.utc)
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(issuer_cert.subject)
               .last_update(now - datetime.timedelta(days=1))
               .next_update(now + datetime.timedelta(days=30))
               .add_extension(x509.CRLNumber(1), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer_key.public_key()), critical=False))
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - datetime.timedelta(days=2))
            .build())
    return builder.sign(issuer_key, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def sgx_extension_of(pem_chain):
    try:
        certs = x509.load_pem_x509_certificates(pem_chain)
    except ValueError as error:
        raise BadInput("cannot parse the quote's PCK chain: %s" % error)
    if not certs:
        raise BadInput("the quote's PCK chain holds no certificate")
    try:
        return certs[0].extensions.get_extension_for_oid(SGX_EXTENSION_OID)
    except x509.ExtensionNotFound:
        raise BadInput("the quote's PCK leaf has no SGX extension (1.2.840.113741.1.13.1)")


# ---------------------------------------------------------------------------------------


def load_inputs(quote_path, collateral_path):
    try:
        with open(quote_path, "rb") as f:
            quote = f.read()
    except OSError as error:
        raise BadInput("cannot read quote: %s" % error)
    try:
        with open(collateral_path, "rb") as f:
            collateral = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError) as error:
        raise BadInput("cannot read collateral JSON: %s" % error)
    if not isinstance(collateral, dict):
        raise BadInput("collateral JSON is not an object")
    for field in COLLATERAL_FIELDS:
        if not isinstance(collateral.get(field), str):
            raise BadInput("collateral JSON lacks string field %r" % field)
    return quote, collateral


def main(argv):
    try:
        quote_path, collateral_path, outdir, revoke = parse_args(argv)
        quote, collateral = load_inputs(quote_path, collateral_path)
        layout = parse_quote(quote)
        old_pem = quote[layout["pem_start"]:layout["pem_end"]]
        stripped = old_pem.rstrip(b"\0")
        nul_suffix = old_pem[len(stripped):]
        sgx_extension = sgx_extension_of(stripped)
    except BadInput as error:
        fail(error)

    new_key = lambda: ec.generate_private_key(ec.SECP256R1())
    root_key, ca_key, leaf_key, tcb_key = new_key(), new_key(), new_key(), new_key()

    root_name = name("CVMKit Test SGX Root CA")
    root = make_cert(root_name, root_key, root_name, root_key, ROOT_SERIAL, ca=True, pathlen=1)
    pck_ca = make_cert(name("CVMKit Test SGX PCK Platform CA"), ca_key, root_name, root_key,
                       PCK_CA_SERIAL, ca=True, pathlen=0)
    leaf = make_cert(name("CVMKit Test SGX PCK Certificate"), leaf_key, pck_ca.subject, ca_key,
                     PCK_LEAF_SERIAL, ca=False, extra=[sgx_extension])
    tcb_signing = make_cert(name("CVMKit Test SGX TCB Signing"), tcb_key, root_name, root_key,
                            TCB_SIGNING_SERIAL, ca=False)

    root_crl = make_crl(root, root_key, [PCK_CA_SERIAL] if revoke == "ca" else [UNRELATED_SERIAL])
    pck_crl = make_crl(pck_ca, ca_key, [PCK_LEAF_SERIAL] if revoke == "pck" else [UNRELATED_SERIAL])

    new_pem = pem(leaf) + pem(pck_ca) + pem(root) + nul_suffix
    new_quote = rebuild_quote(quote, layout, new_pem, leaf_key)

    tcb_chain = (pem(tcb_signing) + pem(root)).decode("ascii")
    out = dict(collateral)  # keeps the key order and any extra fields of the input
    out["pck_crl_issuer_chain"] = (pem(pck_ca) + pem(root)).decode("ascii")
    out["root_ca_crl"] = root_crl.public_bytes(serialization.Encoding.DER).hex()
    out["pck_crl"] = pck_crl.public_bytes(serialization.Encoding.DER).hex()
    out["tcb_info_issuer_chain"] = tcb_chain
    out["tcb_info_signature"] = raw_signature(tcb_key, collateral["tcb_info"].encode("utf-8")).hex()
    out["qe_identity_issuer_chain"] = tcb_chain
    out["qe_identity_signature"] = raw_signature(
        tcb_key, collateral["qe_identity"].encode("utf-8")).hex()

    try:
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, "root.der"), "wb") as f:
            f.write(root.public_bytes(serialization.Encoding.DER))
        with open(os.path.join(outdir, "quote"), "wb") as f:
            f.write(new_quote)
        with open(os.path.join(outdir, "collateral.json"), "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
    except OSError as error:
        fail("cannot write output: %s" % error)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
