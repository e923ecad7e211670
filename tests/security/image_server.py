"""A small HTTP(S) image server on 127.0.0.1 for the image-fetch tests; it records what it was asked."""

import gzip
import http.server
import threading
import time

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10


class ImageServer:
    """A small HTTP(S) server on 127.0.0.1 that records what it was asked."""

    def __init__(self, tls_context=None):
        self.requests = []  # (path, Host header)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Host")))
                path, _, query = self.path.partition("?")
                if path == "/cat.png":
                    self.reply(200, PNG)
                elif path == "/page.html":
                    self.reply(200, b"<html></html>", "text/html")
                elif path == "/redirect":
                    self.head(302, {"Location": query.removeprefix("to="), "Content-Length": "0"})
                elif path == "/loop":
                    self.head(302, {"Location": "/loop", "Content-Length": "0"})
                elif path == "/trickle.png":  # one byte every 0.2 s: each read is quick, the whole is not
                    self.head(200, {"Content-Type": "image/png", "Content-Length": "40"})
                    try:
                        for _ in range(40):
                            self.wfile.write(b"x")
                            self.wfile.flush()
                            time.sleep(0.2)
                    except OSError:
                        pass
                elif path == "/slow-ok.png":  # the whole image after 0.6 s
                    time.sleep(0.6)
                    self.reply(200, PNG)
                elif path == "/gzip-bomb.png":  # 10 MB of zeros in about 10 KB
                    body = gzip.compress(bytes(10 * 1024 * 1024))
                    headers = {
                        "Content-Type": "image/png",
                        "Content-Encoding": "gzip",
                        "Content-Length": str(len(body)),
                    }
                    self.head(200, headers)
                    self.wfile.write(body)
                elif path == "/declared-large.png":
                    self.head(200, {"Content-Type": "image/png", "Content-Length": str(10**9)})
                elif path == "/endless.png":  # no length, more than the limit
                    self.head(200, {"Content-Type": "image/png", "Connection": "close"})
                    try:
                        for _ in range(100):
                            self.wfile.write(b"x" * 1024)
                    except OSError:
                        pass
                else:
                    self.reply(404, b"no")

            def head(self, status, headers: dict):
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()

            def reply(self, status, body, content_type="image/png"):
                self.head(status, {"Content-Type": content_type, "Content-Length": str(len(body))})
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls_context is not None:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
