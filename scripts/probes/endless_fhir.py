# An endless FHIR server: every search answers a Bundle that never ends.
import http.server, socketserver, sys
ENTRY = b'{"resource":{"resourceType":"Observation","status":"final","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"valueQuantity":{"value":70,"unit":"/min"}}},' * 200
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.end_headers()
        if "/Patient/" in self.path:
            self.wfile.write(b'{"resourceType":"Patient","id":"p1","birthDate":"1970-01-01"}')
            return
        try:
            self.wfile.write(b'{"resourceType":"Bundle","type":"searchset","entry":[')
            while True:
                self.wfile.write(ENTRY)
        except (BrokenPipeError, ConnectionResetError):
            pass
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer): daemon_threads = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
