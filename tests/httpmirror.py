"""A local HTTP mirror on 127.0.0.1 for download tests: serves files from memory with HTTP Range support, records
every request, and can simulate failures. Nothing in the tests ever contacts NIST or another real server."""
from __future__ import annotations

import hashlib
import http.server
import socket
import threading

from charclf.data.official import ZIP_FOLDER, ZIP_NAME


class MirrorServer:
    """Serves ``files`` ({url path: bytes}); ``mode`` simulates failures: full | cut (drop the connection half
    way) | ignore-range | 404."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.mode = "full"
        self.requests: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                if server.mode == "404" or self.path not in server.files:
                    self.send_error(404)
                    return
                data, start = server.files[self.path], 0
                rng = self.headers.get("Range")
                if rng and server.mode != "ignore-range":
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.mode == "cut":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def manifest(archive: bytes, members: dict[str, bytes], *, archive_name: str = ZIP_NAME) -> bytes:
    """A ``SHA256SUMS`` as a mirror publishes it beside its archive (``sha256sum`` format)."""
    lines = [f"{hashlib.sha256(archive).hexdigest()}  {archive_name}"]
    lines += [f"{hashlib.sha256(data).hexdigest()}  {ZIP_FOLDER}{name}" for name, data in sorted(members.items())]
    return ("\n".join(lines) + "\n").encode()


def closed_port_url(path: str = "/gzip.zip") -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"  # nothing listens there: connection refused, like no network
