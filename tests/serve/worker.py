# worker.py - the HTTP worker thaw serve's tests run (tests/integration/93-serve*.sh).
#
# An unmodified-style server: listens on 127.0.0.1:$PORT (HTTP/1.1, keep-alive,
# a thread per connection).  Paths:
#   /ready          200 once started (after $WORKER_DELAY seconds of "loading")
#   /id             this process's start token and pid, and requests it served
#   /peer           the port its client (serve's connection) comes from
#   /fds            what its descriptors are (readlink of each), one a line
#   /echo (POST)    the body back, read and written in pieces as they come
#   /upload?tag=T (POST)  reads its Content-Length body, answers "got N"; a body
#                   that ends short (serve closed the connection) writes
#                   $WORKER_DIR/T.cancelled instead
#   /stream?n=N&ms=M  N chunked lines, M ms apart, each flushed
#   /crash          exits before answering
#   /crashmid       sends a header and one chunk, then exits
#   /hang?tag=T     a byte every 100 ms until the client is gone; then writes
#                   $WORKER_DIR/T.cancelled
#   /slow?ms=M      answers after M ms
import http.server, os, sys, time, urllib.parse

delay = float(os.environ.get("WORKER_DELAY", "0"))
time.sleep(delay)
token = os.urandom(6).hex()
served = 0


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_text(self, code, text):
        b = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def chunk(self, b):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
        self.wfile.flush()

    def do_GET(self):
        global served
        served += 1
        u = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/ready":
            self.send_text(200, "ready\n")
        elif u.path == "/id":
            self.send_text(200, "%s %d %d %s\n" % (token, os.getpid(), served, u.query))
        elif u.path == "/fds":
            names = []
            for f in sorted(os.listdir("/proc/self/fd"), key=int):
                try:
                    names.append("%s %s" % (f, os.readlink("/proc/self/fd/" + f)))
                except OSError:
                    pass
            self.send_text(200, "\n".join(names) + "\n")
        elif u.path == "/peer":
            self.send_text(200, "%d\n" % self.client_address[1])
        elif u.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(int(q.get("n", "3"))):
                self.chunk(b"data: %d %f\n\n" % (i, time.time()))
                time.sleep(int(q.get("ms", "100")) / 1000)
            self.wfile.write(b"0\r\n\r\n")
        elif u.path == "/crash":
            os._exit(3)
        elif u.path == "/crashmid":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.chunk(b"partial\n")
            time.sleep(0.2)
            os._exit(4)
        elif u.path == "/hang":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                while True:
                    self.chunk(b".")
                    time.sleep(0.1)
            except OSError:
                d = os.environ.get("WORKER_DIR", "/tmp")
                open(os.path.join(d, q.get("tag", "hang") + ".cancelled"), "w").close()
                self.close_connection = True
        elif u.path == "/slow":
            time.sleep(int(q.get("ms", "1000")) / 1000)
            self.send_text(200, "slow %s\n" % token)
        else:
            self.send_text(404, "no such path\n")

    def do_POST(self):
        u = urllib.parse.urlparse(self.path)
        if u.path == "/upload":
            q = dict(urllib.parse.parse_qsl(u.query))
            left = int(self.headers.get("Content-Length", "0"))
            got = 0
            while left > 0:
                b = self.rfile.read1(min(left, 65536))
                if not b:
                    break
                left -= len(b)
                got += len(b)
            if left > 0:
                d = os.environ.get("WORKER_DIR", "/tmp")
                open(os.path.join(d, q.get("tag", "upload") + ".cancelled"), "w").close()
                self.close_connection = True
                return
            self.send_text(200, "got %d\n" % got)
            return
        if self.path != "/echo":
            self.send_text(404, "no such path\n")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                n = int(self.rfile.readline().strip().split(b";")[0], 16)
                if n == 0:
                    self.rfile.readline()
                    break
                self.chunk(self.rfile.read(n))
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left > 0:
                b = self.rfile.read1(min(left, 65536))
                if not b:
                    break
                left -= len(b)
                self.chunk(b)
        self.wfile.write(b"0\r\n\r\n")


port = int(os.environ.get("PORT", "8000"))
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
srv.daemon_threads = True
print("worker %s listening on %d" % (token, port), flush=True)
srv.serve_forever()
