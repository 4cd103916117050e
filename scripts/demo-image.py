#!/usr/bin/env python3
"""The image of scripts/demo-confidential-container: a docker-archive with static busybox and /start,
which writes a page from /run/secrets/greeting and serves it with busybox httpd on port 8080.
Usage: demo-image.py OUT.tar"""
import hashlib, io, json, os, shutil, sys, tarfile
out = sys.argv[1]
start = "#!/bin/sh\nmkdir -p /www\n{ echo 'released to this guest:'; cat /run/secrets/greeting; } > /www/index.html\nexec /bin/busybox httpd -f -p 8080 -h /www\n"
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.GNU_FORMAT) as t:
    def add(name, data, mode=0o644, kind=tarfile.REGTYPE, link=""):
        info = tarfile.TarInfo(name); info.mode = mode; info.type = kind; info.linkname = link
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        t.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    add("bin", b"", 0o755, tarfile.DIRTYPE)
    with open("/bin/busybox", "rb") as f: add("bin/busybox", f.read(), 0o755)
    add("bin/sh", b"", 0o777, tarfile.SYMTYPE, "busybox")
    add("start", start.encode(), 0o755)
data = layer.getvalue()
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/start"]},
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(data).hexdigest()]}}).encode()
name = hashlib.sha256(config).hexdigest() + ".json"
with tarfile.open(out, "w") as t:
    for member, blob in (("layer.tar", data), (name, config),
                         ("manifest.json", json.dumps([{"Config": name, "RepoTags": ["cvm-demo:1"], "Layers": ["layer.tar"]}]).encode())):
        info = tarfile.TarInfo(member); info.size = len(blob); t.addfile(info, io.BytesIO(blob))
print("wrote", out)
