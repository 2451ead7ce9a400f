#!/usr/bin/python3
"""workload_a.py - reference workload A: a small torch inference worker.

Imports torch and numpy (the slow part of its cold start), builds a seeded
3-layer MLP, warms it up, prints READY and then serves one answer line per
request line on stdin until EOF.  The answer is a digest of the raw bytes of
the model's output for a fixed input plus the exact repr of their sum, so a
driver can check that every restored copy computes bit-identical results.

Protocol (stdout carries nothing else; torch's own chatter goes to stderr):
    -> READY
    <- any line          -> "<sha256 of output bytes> <repr of float64 sum>"
"""
import hashlib
import sys

import numpy as np
import torch

WIDTH = 1024
BATCH = 64
WARMUP_FORWARDS = 5


def build_model():
    # Seeded before anything draws random numbers: the weights and the input
    # are then the same in every cold run, so cold runs can be compared too.
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(WIDTH, WIDTH),
        torch.nn.ReLU(),
        torch.nn.Linear(WIDTH, WIDTH),
        torch.nn.ReLU(),
        torch.nn.Linear(WIDTH, WIDTH),
    )
    model.eval()
    x = torch.randn(BATCH, WIDTH)
    return model, x


def answer(model, x):
    with torch.no_grad():
        y = model(x)
    out = np.ascontiguousarray(y.numpy())
    digest = hashlib.sha256(out.tobytes()).hexdigest()
    total = float(out.astype(np.float64).sum())
    return f"{digest} {total!r}"


def main():
    model, x = build_model()
    for _ in range(WARMUP_FORWARDS):
        answer(model, x)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    while True:
        line = sys.stdin.readline()
        if not line:
            return 0
        sys.stdout.write(answer(model, x) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
