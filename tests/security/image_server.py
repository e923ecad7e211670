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
                    self.send_response(302)
                    self.send_header("Location", query.removeprefix("to="))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "/loop":
                    self.send_response(302)
                    self.send_header("Location", "/loop")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "/trickle.png":  # one byte every 0.2 s: each read is quick, the whole is not
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", "40")
                    self.end_headers()
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
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif path == "/declared-large.png":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(10**9))
                    self.end_headers()
                elif path == "/endless.png":  # no length, more than the limit
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    try:
                        for _ in range(100):
                            self.wfile.write(b"x" * 1024)
                    except OSError:
                        pass
                else:
                    self.reply(404, b"no")

            def reply(self, status, body, content_type="image/png"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
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
