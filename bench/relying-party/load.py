#!/usr/bin/env python3
"""Drives a relying party over HTTP/1.1 keep-alive: CLIENTS threads, SESSIONS sessions in all, each
auth -> attest (the given report and VCEK) -> resource. The same client for cvm's server and the
Python peer. Usage: load.py PORT REPORT VCEK SESSIONS CLIENTS"""
import base64, http.client, json, os, struct, sys, threading, time
from cryptography import x509
from cryptography.hazmat.primitives import serialization

VCEK_GUID = bytes.fromhex("63da758de6644564adc5f4b93be8accd")
port, report_path, vcek_path, sessions, clients = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
report = open(report_path, "rb").read()
vcek = open(vcek_path, "rb").read()
if not vcek.startswith(b"\x30"):
    vcek = x509.load_pem_x509_certificate(vcek).public_bytes(serialization.Encoding.DER)
table = VCEK_GUID + struct.pack("<II", 48, len(vcek)) + bytes(24) + vcek
tee = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
attest = json.dumps({"tee-pubkey": {"kty": "OKP", "crv": "X25519", "x": tee},
                     "tee-evidence": {"report": base64.b64encode(report).decode(), "certs": base64.b64encode(table).decode()}})
auth = '{"version":"0.1.0","tee":"snp"}'
passed = [0] * clients


def worker(index, count):
    connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    for _ in range(count):
        connection.request("POST", "/kbs/v0/auth", auth, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        cookie = (response.getheader("Set-Cookie") or "").split(";")[0]
        connection.request("POST", "/kbs/v0/attest", attest, {"Content-Type": "application/json", "Cookie": cookie})
        ok = connection.getresponse()
        ok.read()
        connection.request("GET", "/kbs/v0/resource/default/secret/secret", headers={"Cookie": cookie})
        secret = connection.getresponse()
        secret.read()
        if ok.status == 200 and secret.status == 200:
            passed[index] += 1


threads = [threading.Thread(target=worker, args=(i, sessions // clients)) for i in range(clients)]
start = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
wall = time.perf_counter() - start
total = sum(passed)
print(f"sessions={total} of={sessions // clients * clients} seconds={wall:.3f} per_second={total / wall:.1f}")
