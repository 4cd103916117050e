#!/usr/bin/env python3
"""A stand-in for AMD KDS and Intel PCS on 127.0.0.1, for the fetch tests. Serves files from ROOT by URL
path (the query is ignored but logged to ROOT/requests.log); a JSON object in FILE.headers beside a
file gives the response headers sent with it. Path prefixes choose a behaviour:
  /ok/...         serve the file (404 when missing)
  /ratelimit/...  first request per path: 429 with Retry-After: 1; later requests: serve the file
  /slow/...       wait 3 seconds, then serve the file
  /corrupt/...    200 with a body that is neither DER nor PEM
  /unavailable/...  always 503
Prints the chosen port on the first line of stdout, then serves until killed."""
import http.server
import json
import os
import signal
import socketserver
import sys
import threading
import time

# The parent may have spawned us with signals blocked (libdispatch blocks them in its threads).
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
signal.signal(signal.SIGTERM, signal.SIG_DFL)
ROOT = sys.argv[1]
seen = set()
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        with open(os.path.join(ROOT, "requests.log"), "a") as log:
            log.write(self.path + "\n")
        mode, _, rest = self.path.lstrip("/").partition("/")
        path = rest.split("?", 1)[0]
        file = os.path.normpath(os.path.join(ROOT, path))
        if mode == "ratelimit":
            with lock:
                first = self.path not in seen
                seen.add(self.path)
            if first:
                return self.send(429, b"slow down", [("Retry-After", "1")])
        elif mode == "slow":
            time.sleep(3)
        elif mode == "corrupt":
            return self.send(200, b"\x00garbage, not a certificate\xff" * 8)
        elif mode == "unavailable":
            return self.send(503, b"try later")
        if not file.startswith(os.path.abspath(ROOT)) or not os.path.isfile(file):
            return self.send(404, b"not found")
        headers = []
        if os.path.isfile(file + ".headers"):
            with open(file + ".headers") as handle:
                headers = list(json.load(handle).items())
        with open(file, "rb") as handle:
            self.send(200, handle.read(), headers)


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    # Plain TCPServer: HTTPServer.server_bind resolves the host name, which stalls without DNS.
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
