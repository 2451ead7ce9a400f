#!/usr/bin/env python3
"""fault-httpd.py - a tiny object server for the store's fault tests.

Stores PUT bodies in memory and serves GET/HEAD like the real server, on
127.0.0.1 on a free port (written to PORTFILE), with faults on request:
  --fail N        the first N requests of each path answer 500
  --die-after N   after N successful chunk GETs, the next chunk GET sends half
                  its body and the server exits (a server that disappears)
  --status CODE   every request answers CODE (e.g. 403)
  --slowdown N    the first N requests of each path answer S3's 503 SlowDown
  --head-absent   HEAD says 404 for everything (as to two writers racing)
  --seed DIR      serve the files of DIR (a store tree: chunks/, manifests/, names/)
"""
import argparse
import http.server
import os
import sys
import threading

ap = argparse.ArgumentParser()
ap.add_argument("portfile")
ap.add_argument("--fail", type=int, default=0)
ap.add_argument("--die-after", type=int, default=-1)
ap.add_argument("--status", type=int, default=0)
ap.add_argument("--slowdown", type=int, default=0)
ap.add_argument("--head-absent", action="store_true")
ap.add_argument("--seed")
args = ap.parse_args()

objects = {}
failures = {}
gets = [0]
lock = threading.Lock()

if args.seed:
    for root, _, files in os.walk(args.seed):
        for f in files:
            path = os.path.join(root, f)
            rel = os.path.relpath(path, args.seed).split(os.sep)
            if rel[0] == "chunks" and len(rel) == 3:
                key = "/store/chunks/" + rel[2]
            elif rel[0] in ("manifests", "names") and len(rel) == 2:
                key = "/store/%s/%s" % (rel[0], rel[1])
            else:
                continue
            with open(path, "rb") as fh:
                objects[key] = fh.read()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def fault(self):
        if args.status:
            self.reply(args.status, b"")
            return True
        with lock:
            n = failures.get(self.path, 0)
            failures[self.path] = n + 1
        if n < args.fail:
            self.reply(500, b"try again\n")
            return True
        if n < args.slowdown:
            print("SlowDown %s %s" % (self.command, self.path), flush=True)
            self.reply(503, b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown'
                       b'</Code><Message>Please reduce your request rate.</Message></Error>')
            return True
        return False

    def reply(self, code, body, head=False):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def do_PUT(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.fault():
            return
        inm = self.headers.get("If-None-Match")
        print("PUT %s inm=%s" % (self.path, inm or "-"), flush=True)
        with lock:
            there = self.path in objects
            if not (there and inm == "*"):
                objects[self.path] = body
        if there and inm == "*":  # S3's conditional put: the object is there
            print("412 %s" % self.path, flush=True)
            self.reply(412, b"<Error><Code>PreconditionFailed</Code></Error>")
            return
        self.reply(201, b"")

    def do_HEAD(self):
        if self.fault():
            return
        body = None if args.head_absent else objects.get(self.path)
        self.reply(200 if body is not None else 404, body or b"", head=True)

    def do_GET(self):
        if self.fault():
            return
        body = objects.get(self.path)
        if body is None:
            self.reply(404, b"")
            return
        if "/chunks/" in self.path and args.die_after >= 0:
            with lock:
                gets[0] += 1
                die = gets[0] > args.die_after
            if die:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                os._exit(0)
        self.reply(200, body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
tmp = args.portfile + ".tmp"
with open(tmp, "w") as fh:
    fh.write("%d\n" % server.server_address[1])
os.rename(tmp, args.portfile)
sys.stdout.flush()
server.serve_forever()
