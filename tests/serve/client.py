# client.py - the misbehaving HTTP clients of tests/integration/97-serve-clients.sh.
#
#   client.py trickle PORT HEAD BODY_PREFIX N EACH_S
#       sends HEAD (python escapes), then BODY_PREFIX, then N bytes "a" one at a
#       time EACH_S seconds apart, then waits for an answer.  Prints "CUT after
#       K" when serve closed the connection before the K+1th byte could go (or
#       after all of them, with nothing answered), else "ANSWER <status line>".
#   client.py pieces PORT PATH PIECE_BYTES N GAP_S
#       POSTs N pieces of PIECE_BYTES (Content-Length N*PIECE_BYTES), GAP_S apart;
#       prints the answer's status line and body.
#   client.py abandon PORT PATH LENGTH SEND
#       POSTs a body of LENGTH announced bytes, sends SEND of them and closes.
#   client.py flood PORT ADMIN N
#       holds N idle connections (until serve counts them), then opens one more,
#       which must be closed unanswered; then asks GET /id on one of the N, which
#       must be answered.  Prints "OK" or what went wrong; exits 1 on failure.
#   client.py later PORT IDLE_S PIECES EACH_S
#       GET /id, its answer read; IDLE_S of silence on the kept-alive connection;
#       then GET /id again in PIECES pieces EACH_S apart.  Prints the second
#       answer's status line ("CUT" if there is none).
#   client.py hold PORT PATH
#       sends GET PATH and waits, reading, until killed.
import socket
import sys
import time
import urllib.request

TIMEOUT = 60


def connect(port):
    s = socket.create_connection(("127.0.0.1", int(port)))
    s.settimeout(TIMEOUT)
    return s


def answer(s):
    """What comes back until the server closes: bytes, or None if it closed first."""
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
            if b"\r\n\r\n" in out and out.startswith(b"HTTP/"):
                break
    except (ConnectionResetError, BrokenPipeError):
        pass
    return out or None


def trickle(port, head, prefix, n, each):
    s = connect(port)
    s.sendall(head.encode().decode("unicode_escape").encode("latin-1") + prefix.encode())
    for k in range(int(n)):
        time.sleep(float(each))
        try:
            s.sendall(b"a")
        except (BrokenPipeError, ConnectionResetError):
            print("CUT after %d" % k)
            return 0
    out = answer(s)
    if out is None:
        print("CUT after %s" % n)
    else:
        print("ANSWER " + out.split(b"\r\n")[0].decode("latin-1"))
    return 0


def pieces(port, path, size, n, gap):
    size, n = int(size), int(n)
    s = connect(port)
    s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" %
              (path.encode(), size * n))
    for i in range(n):
        if i:
            time.sleep(float(gap))
        s.sendall(b"b" * size)
    out = answer(s) or b"CLOSED"
    head, _, body = out.partition(b"\r\n\r\n")
    if b"Content-Length" in head and not body:
        body = s.recv(65536)
    print(head.split(b"\r\n")[0].decode("latin-1"), body.decode("latin-1").strip())
    return 0


def abandon(port, path, length, send):
    s = connect(port)
    s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" %
              (path.encode(), int(length)))
    s.sendall(b"c" * int(send))
    time.sleep(0.5)
    s.close()
    return 0


def metric(admin, name):
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % admin, timeout=5).read()
    for line in text.decode().splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == name:
            return float(f[1])
    return 0


def flood(port, admin, n):
    held = [connect(port) for _ in range(int(n))]
    end = time.time() + TIMEOUT
    while metric(admin, "thaw_serve_connections") < int(n):
        if time.time() > end:
            print("serve never counted %s connections" % n)
            return 1
        time.sleep(0.1)
    extra = connect(port)
    try:
        extra.sendall(b"GET /id HTTP/1.1\r\nHost: x\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = answer(extra)
    if out is not None:
        print("connection %d over --max-connections was answered: %r" % (int(n) + 1, out[:80]))
        return 1
    held[0].sendall(b"GET /id HTTP/1.1\r\nHost: x\r\n\r\n")
    out = answer(held[0])
    if not out or not out.startswith(b"HTTP/1.1 200"):
        print("a held connection was not answered: %r" % out)
        return 1
    for s in held:
        s.close()
    print("OK")
    return 0


def read_answer(s):
    out = b""
    while b"\r\n\r\n" not in out:
        b = s.recv(65536)
        if not b:
            return None
        out += b
    head, _, body = out.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        b = s.recv(65536)
        if not b:
            return None
        body += b
    return head.split(b"\r\n")[0]


def later(port, idle, pieces, each):
    s = connect(port)
    req = b"GET /id HTTP/1.1\r\nHost: x\r\n\r\n"
    s.sendall(req)
    if read_answer(s) is None:
        print("CUT")
        return 0
    time.sleep(float(idle))
    n = int(pieces)
    step = (len(req) + n - 1) // n
    try:
        for i in range(0, len(req), step):
            if i:
                time.sleep(float(each))
            s.sendall(req[i:i + step])
        line = read_answer(s)
    except (BrokenPipeError, ConnectionResetError):
        line = None
    print("CUT" if line is None else line.decode("latin-1"))
    return 0


def hold(port, path):
    s = connect(port)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    while s.recv(65536):
        pass
    return 0


cmds = {"trickle": trickle, "pieces": pieces, "abandon": abandon, "flood": flood, "hold": hold,
        "later": later}
sys.exit(cmds[sys.argv[1]](*sys.argv[2:]))
