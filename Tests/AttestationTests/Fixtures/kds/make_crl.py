#!/usr/bin/env python3
"""Writes a test CA, two certificates and a CRL into OUTDIR, all signed like AMD's (RSASSA-PSS, SHA-384,
MGF1-SHA-384, salt 48), with the `cryptography` package. The CRL revokes serials 0x1234 and 0x01."""
import datetime
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

out = sys.argv[1]
pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ARK-Test")])
now = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
      .serial_number(0x77).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
      .sign(ca_key, hashes.SHA384(), rsa_padding=pss))


def leaf(serial, common_name):
    key = ec.generate_private_key(ec.SECP384R1())
    return (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(name).public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
            .sign(ca_key, hashes.SHA384(), rsa_padding=pss))


revoked = leaf(0x1234, "SEV-Revoked")
good = leaf(0x55, "SEV-Good")
builder = (x509.CertificateRevocationListBuilder().issuer_name(name).last_update(now)
           .next_update(now + datetime.timedelta(days=30)))
for serial in (0x1234, 0x01):
    builder = builder.add_revoked_certificate(
        x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
crl = builder.sign(ca_key, hashes.SHA384(), rsa_padding=pss)
for file, obj in (("ca.der", ca), ("revoked.der", revoked), ("good.der", good), ("crl.der", crl)):
    with open(f"{out}/{file}", "wb") as handle:
        handle.write(obj.public_bytes(serialization.Encoding.DER))
