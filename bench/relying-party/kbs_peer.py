#!/usr/bin/env python3
"""The Python peer of the relying-party benchmark: the same session (auth -> attest -> resource) with
Python `cryptography` (OpenSSL), in process or behind http.server (ThreadingHTTPServer, HTTP/1.1).
It does less than cvm's relying party, never more: JSON and base64, the VCEK certificate table entry
parsed, the report's ECDSA P-384 signature verified with the VCEK (the chain taken as checked once),
REPORT_DATA, MEASUREMENT and the DEBUG bit compared, then the secret sealed with X25519 + HKDF-SHA256 +
AES-256-GCM. Usage:
  kbs_peer.py in-process REPORT VCEK_DER N
  kbs_peer.py serve REPORT VCEK_DER PORT
"""
import base64, json, os, struct, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import serialization

VCEK_GUID = bytes.fromhex("63da758de6644564adc5f4b93be8accd")  # 63da758d-e664-4564-adc5-f4b93be8accd, RFC 4122 order as the SNP certificate table has it
NONCE = bytes([0x42] * 32)
INFO = b"cvmkit-kbs-secret-v1"


def b64d(text):
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Party:
    def __init__(self, report, vcek_der):
        self.measurement = report[0x90:0xC0]
        self.report_data = report[0x50:0x90]  # the benchmark's binding, as RelyingPartyBench's
        self.rp = X25519PrivateKey.generate()
        self.rp_public = self.rp.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.secret = b"a secret of the benchmark"
        self.keys = {}
        self.sessions = {}
        self.lock = threading.Lock()
        self.vcek_der = vcek_der

    def key_for(self, der):
        key = self.keys.get(der)
        if key is None:
            key = x509.load_der_x509_certificate(der).public_key()
            self.keys[der] = key
        return key

    def auth(self, body):
        request = json.loads(body)
        if request.get("tee") != "snp":
            return 400, b'{"type":"UnsupportedTee"}', None
        session = str(uuid.uuid4())
        with self.lock:
            self.sessions[session] = {"nonce": NONCE, "state": "challenged", "created": time.time()}
        return 200, json.dumps({"nonce": base64.b64encode(NONCE).decode(), "extra-params": ""}).encode(), session

    def attest(self, body, session):
        request = json.loads(body)
        with self.lock:
            state = self.sessions.get(session)
            if state is None or state["state"] != "challenged":
                return 401, b'{"type":"NoSession"}'
            state["state"] = "attesting"
        tee = b64d(request["tee-pubkey"]["x"])
        evidence = request["tee-evidence"]
        report = base64.b64decode(evidence["report"])
        table = base64.b64decode(evidence["certs"])
        der = None
        offset = 0
        while offset + 24 <= len(table):
            guid, start, length = table[offset:offset + 16], *struct.unpack_from("<II", table, offset + 16)
            if guid == bytes(16):
                break
            if guid == VCEK_GUID:
                der = table[start:start + length]
            offset += 24
        ok = der is not None and len(tee) == 32
        if ok:
            r = int.from_bytes(report[0x2A0:0x2D0], "little")
            s = int.from_bytes(report[0x2E8:0x318], "little")
            try:
                self.key_for(der).verify(utils.encode_dss_signature(r, s), report[:0x2A0], ec.ECDSA(hashes.SHA384()))
            except Exception:
                ok = False
        policy = struct.unpack_from("<Q", report, 0x08)[0]
        ok = ok and report[0x50:0x90] == self.report_data and report[0x90:0xC0] == self.measurement and not policy & (1 << 19)
        with self.lock:
            state["state"] = "attested" if ok else "refused"
            state["tee"] = tee
        return (200, json.dumps({"token": session, "resources": ["secret"]}).encode()) if ok else (401, b'{"type":"AttestationFailed"}')

    def resource(self, name, session):
        with self.lock:
            state = self.sessions.get(session)
        if state is None or state["state"] != "attested" or name != "secret":
            return 401, b'{"type":"Unauthorized"}'
        tee = state["tee"]
        shared = self.rp.exchange(X25519PublicKey.from_public_bytes(tee))
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=state["nonce"], info=INFO + tee + self.rp_public).derive(shared)
        iv = os.urandom(12)
        sealed = AESGCM(key).encrypt(iv, self.secret, b"cvmkit-secret:" + name.encode())
        header = b64url(json.dumps({"alg": "X25519-HKDF-SHA256", "enc": "A256GCM", "name": name}).encode())
        return 200, json.dumps({"protected": header, "iv": b64url(iv), "ciphertext": b64url(sealed[:-16]), "tag": b64url(sealed[-16:])}).encode()


def table_for(der):
    entries = VCEK_GUID + struct.pack("<II", 48, len(der)) + bytes(24)
    return entries + der


def main():
    mode, report_path, vcek_path, number = sys.argv[1:5]
    report = open(report_path, "rb").read()
    vcek = open(vcek_path, "rb").read()
    if not vcek.startswith(b"\x30"):
        vcek = x509.load_pem_x509_certificate(vcek).public_bytes(serialization.Encoding.DER)
    party = Party(report, vcek)
    if mode == "in-process":
        count = int(number)
        tee = X25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        attest_body = json.dumps({"tee-pubkey": {"kty": "OKP", "crv": "X25519", "x": b64url(tee)},
                                  "tee-evidence": {"report": base64.b64encode(report).decode(),
                                                   "certs": base64.b64encode(table_for(vcek)).decode()}}).encode()
        auth_body = b'{"version":"0.1.0","tee":"snp"}'

        def session():
            _, _, sid = party.auth(auth_body)
            status, _ = party.attest(attest_body, sid)
            return status == 200 and party.resource("secret", sid)[0] == 200

        assert session()
        wall, cpu = time.perf_counter(), time.process_time()
        ok = sum(1 for _ in range(count) if session())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert ok == count, f"{ok} of {count} passed"
        print(f"sessions={count} seconds={wall:.3f} per_second={count / wall:.1f} per_cpu_second={count / cpu:.1f}")
        return

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, body, session=None):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if session:
                self.send_header("Set-Cookie", f"kbs-session-id={session}; Path=/kbs")
            self.end_headers()
            self.wfile.write(body)

        def cookie(self):
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == "kbs-session-id":
                    return value
            return None

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > 65536:
                return self.reply(413, b'{"type":"PayloadTooLarge"}')
            body = self.rfile.read(length)
            if self.path == "/kbs/v0/auth":
                status, out, session = party.auth(body)
                return self.reply(status, out, session)
            if self.path == "/kbs/v0/attest":
                return self.reply(*party.attest(body, self.cookie()))
            self.reply(404, b"{}")

        def do_GET(self):
            prefix = "/kbs/v0/resource/default/secret/"
            if self.path.startswith(prefix):
                return self.reply(*party.resource(self.path[len(prefix):], self.cookie()))
            self.reply(404, b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", int(number)), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
