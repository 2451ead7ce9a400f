#!/usr/bin/python3
"""snapdiff.py - where two snapshots of the same program differ, page by page.

    bench/snapdiff.py DIR_A DIR_B [--top N]

DIR_A and DIR_B are plain snapshot directories (thaw dump --dir, or a plain
thaw run store's KEY/).  Every dumped page of A is compared with the page at
the same address in B.  Printed: pages equal / different / only in one, per
kind of mapping (heap, anonymous, stack, file-private COW pages ...) and the
largest differing mappings; then how scattered the differences are: the
share of 256 KiB stretches of A's memory (the store's average chunk) that hold
at least one differing page, which is what content-defined chunks lose.
Read-only; the format is docs/image-format.md.  Used by bench/store.py's
dedup section to say why two cold starts do not deduplicate.
"""
import argparse
import json
import os
import struct
import sys

PAGE = 4096
RUN = struct.Struct("<QQIII4x")
IDX_HEADER = 48  # docs/image-format.md: magic, version, reserved, nr_runs, id, crcs


def load(d):
    with open(os.path.join(d, "manifest.json")) as f:
        man = json.load(f)
    with open(os.path.join(d, "pages.idx"), "rb") as f:
        idx = f.read()
    if idx[:8] != b"THAWIDX1":
        raise SystemExit("%s: not a pages.idx" % d)
    nr = struct.unpack_from("<Q", idx, 16)[0]
    pages = {}
    with open(os.path.join(d, "pages.img"), "rb") as f:
        for i in range(nr):
            vaddr, off, npages, flags, _ = RUN.unpack_from(idx, IDX_HEADER + 32 * i)
            if flags & 1:
                for p in range(npages):
                    pages[vaddr + p * PAGE] = None
                continue
            f.seek(off)
            data = f.read(npages * PAGE)
            for p in range(npages):
                pages[vaddr + p * PAGE] = data[p * PAGE:(p + 1) * PAGE]
    return man, pages


def vma_label(man, v):
    kind = v["kind"]
    if "file" in v and v["file"] is not None and v["file"] >= 0:
        path = man["files"][v["file"]]["path"]
        return "%s %s" % (kind, os.path.basename(path))
    return kind + (" " + v["name"] if v.get("name") else "")


def vma_of(man):
    spans = [(int(v["start"], 16), int(v["end"], 16), vma_label(man, v)) for v in man["vmas"]]
    spans.sort()
    return spans


def label_at(spans, addr):
    lo, hi = 0, len(spans)
    while lo < hi:
        mid = (lo + hi) // 2
        if spans[mid][1] <= addr:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(spans) and spans[lo][0] <= addr < spans[lo][1]:
        return spans[lo][2]
    return "?"


def diff(a_dir, b_dir, top=12, chunk=256 << 10):
    man_a, pa = load(a_dir)
    man_b, pb = load(b_dir)
    spans = vma_of(man_a)
    per = {}
    differing = []
    equal = changed = only_a = 0
    byte_diffs = 0
    for addr, data in pa.items():
        lab = label_at(spans, addr)
        row = per.setdefault(lab, [0, 0, 0])
        other = pb.get(addr, b"missing")
        if other == b"missing":
            only_a += 1
            row[2] += 1
        elif other == data:
            equal += 1
            row[0] += 1
        else:
            changed += 1
            row[1] += 1
            differing.append(addr)
            if data is not None and other is not None:
                byte_diffs += sum(1 for x, y in zip(data, other) if x != y)
    only_b = sum(1 for addr in pb if addr not in pa)
    # stretches of A's dumped memory, in address order as the store cuts pages.img
    addrs = sorted(pa)
    per_chunk = chunk // PAGE
    bad = set(differing) | {a for a in addrs if a not in pb}
    stretches = [addrs[i:i + per_chunk] for i in range(0, len(addrs), per_chunk)]
    hit = sum(1 for s in stretches if any(a in bad for a in s))
    return {
        "pages_a": len(pa), "pages_b": len(pb), "equal": equal, "different": changed,
        "only_a": only_a, "only_b": only_b,
        "bytes_different_in_different_pages": byte_diffs,
        "page_level_ratio": round((len(pa) + changed + only_b) / len(pa), 3) if pa else None,
        "chunk_stretches": len(stretches), "stretches_with_a_difference": hit,
        "chunk_level_ratio_estimate": round(1 + hit / len(stretches), 3) if stretches else None,
        "by_mapping": sorted(([k] + v for k, v in per.items()), key=lambda r: -(r[2] + r[3]))[:top],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = diff(args.a, args.b, args.top)
    if args.json:
        json.dump(r, sys.stdout, indent=1)
        print()
        return 0
    print("pages: A %d, B %d; equal %d, different %d, only in A %d, only in B %d" %
          (r["pages_a"], r["pages_b"], r["equal"], r["different"], r["only_a"], r["only_b"]))
    print("bytes that differ inside the different pages: %d (%.2f%% of them)" %
          (r["bytes_different_in_different_pages"],
           100.0 * r["bytes_different_in_different_pages"] / max(1, r["different"] * PAGE)))
    print("A + B with page-level dedup: %.3fx A; 256 KiB stretches of A with a difference: "
          "%d of %d (chunk-level estimate %.3fx)" %
          (r["page_level_ratio"], r["stretches_with_a_difference"], r["chunk_stretches"],
           r["chunk_level_ratio_estimate"]))
    print("%-50s %8s %8s %8s" % ("mapping (of A)", "equal", "differ", "only A"))
    for lab, eq, ch, oa in r["by_mapping"]:
        print("%-50s %8d %8d %8d" % (lab[:50], eq, ch, oa))
    return 0


if __name__ == "__main__":
    sys.exit(main())
