"""app.py - an HTTP worker for thaw serve (Python + torch), like examples/worker.py.

    thaw serve --ready-path /ready --warmup /predict -- /usr/bin/python3 examples/app.py

APP_DEVICE=cuda puts the model on the GPU (tests/gpu/serve-gpu.sh).

An unmodified HTTP server: at its start it imports torch, builds a small MLP
and warms it up (what a restore skips), then listens on 127.0.0.1:$PORT.
GET /ready answers once it listens; GET /predict answers with one forward
pass.  It knows nothing of thaw.  make bench-serve (bench/serve.py) scales it.
"""
import http.server
import json
import os

import torch

DEVICE = os.environ.get("APP_DEVICE", "cpu")
torch.manual_seed(0)
torch.set_num_threads(1)
MODEL = torch.nn.Sequential(torch.nn.Linear(512, 1024), torch.nn.ReLU(),
                            torch.nn.Linear(1024, 10)).to(DEVICE)
with torch.no_grad():
    for _ in range(20):
        MODEL(torch.randn(64, 512, device=DEVICE))
PROBE = torch.ones(1, 512, device=DEVICE)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body):
        data = json.dumps(body).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/ready":
            self.answer(200, {"ready": True})
        elif self.path == "/predict":
            with torch.no_grad():
                y = MODEL(PROBE)
            self.answer(200, {"output": round(float(y[0, 0]), 6)})
        else:
            self.answer(404, {"error": "no such path"})


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))),
                                         Handler)
server.daemon_threads = True
server.serve_forever()
