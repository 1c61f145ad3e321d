"""Servers the tests and benchmarks run on 127.0.0.1: free ports, waiting for a listener, Debian's docker-registry,
a git smart-HTTP server that requires a password.

Plain functions (no pytest), so bench/ scripts use them too.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


@contextmanager
def serve_registry(binary: str, root: Path) -> Iterator[str]:
    """A CNCF distribution registry (Debian's docker-registry) on 127.0.0.1:<free port>, storing under ROOT,
    stopped by its PID on exit; yields ``localhost:PORT``."""
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    log = (root / "registry.log").open("w")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield f"localhost:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@dataclass
class GitHttpServer:
    """What `serve_git_http` yields: its port, and the requests it refused (no or wrong credentials) and served."""

    port: int
    denied: list[str] = field(default_factory=list)
    served: list[str] = field(default_factory=list)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


@contextmanager
def serve_git_http(root: Path, *, username: str, password: str) -> Iterator[GitHttpServer]:
    """git's smart HTTP protocol for the bare repositories under ROOT (`git http-backend` run as a CGI program, as
    git's own t/lib-httpd.sh does with Apache) behind HTTP basic authentication, on 127.0.0.1:<free port>: every
    request without USERNAME:PASSWORD gets 401. A thread of this process, stopped on exit; each backend run is
    bounded (60 s)."""
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    server_state = GitHttpServer(0)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            body = _read_body(self)
            if self.headers.get("Authorization") != expected:
                server_state.denied.append(f"{self.command} {self.path}")
                self._reply(401, [("WWW-Authenticate", 'Basic realm="gitops"')], b"authentication required\n")
                return
            server_state.served.append(f"{self.command} {self.path}")
            path, _, query = self.path.partition("?")
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GATEWAY_INTERFACE": "CGI/1.1",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": unquote(path),
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "REMOTE_USER": username,  # http-backend allows receive-pack for an authenticated user
                "REMOTE_ADDR": "127.0.0.1",
            }
            res = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60)
            sep = b"\r\n\r\n" if b"\r\n\r\n" in res.stdout else b"\n\n"
            head, _, payload = res.stdout.partition(sep)
            status, headers = 200, []
            for line in head.decode("latin-1").splitlines():
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.split()[0])
                elif key and key.lower() != "content-length":
                    headers.append((key, value.strip()))
            self._reply(status if res.returncode == 0 else 500, headers, payload)

        do_GET = _handle
        do_POST = _handle

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server_state.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
