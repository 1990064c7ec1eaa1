#!/usr/bin/env python3
"""Folds `perf script` output into stacks and draws them as a flame graph (SVG).

  perf script -i perf.data | perf/scripts/flamegraph.py --folded out.folded --svg out.svg

Owns two steps only: collapsing perf's sample blocks into "root;...;leaf count" lines (the
"folded" format most flame-graph tools read), and rendering those lines as a self-contained SVG
(hover a frame for its name, samples and share). Also accepts folded input (--from-folded).
Prints the hottest leaf functions to stderr. Python 3 standard library only.
"""

import argparse
import collections
import html
import re
import sys

# perf script frame line: "\t    55d0c2a1b2c3 symbol+0x1f (/path/to/dso)"
FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.*?)(?:\s+\((.*)\))?$")


def clean(sym, dso):
    if sym in ("[unknown]", ""):
        # An unsymbolised frame still says which binary it was in.
        return "[%s]" % (dso.rsplit("/", 1)[-1].strip("[]") if dso else "unknown")
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
    # Rust legacy mangling hash suffix: ::h0123456789abcdef
    sym = re.sub(r"::h[0-9a-f]{16}$", "", sym)
    return sym.replace(";", ":")


def fold_perf_script(lines, keep_comm):
    """Returns Counter{"comm;root;...;leaf": samples}."""
    stacks = collections.Counter()
    comm, frames = None, []

    def flush():
        if comm is not None and frames:
            parts = ([comm] if keep_comm else []) + list(reversed(frames))
            stacks[";".join(parts)] += 1

    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            comm, frames = None, []
            continue
        if not line[0].isspace():
            flush()
            # Header: "comm  pid/tid [cpu] time: period event:"; comm may contain spaces.
            comm = re.split(r"\s+\d+(?:/\d+)?\s", line, maxsplit=1)[0].strip() or "?"
            frames = []
            continue
        m = FRAME.match(line)
        if m:
            frames.append(clean(m.group(1).strip(), m.group(2)))
    flush()
    return stacks


def read_folded(lines):
    stacks = collections.Counter()
    for line in lines:
        line = line.strip()
        if not line:
            continue
        stack, _, n = line.rpartition(" ")
        try:
            stacks[stack] += int(n)
        except ValueError:
            continue
    return stacks


class Node:
    __slots__ = ("name", "value", "children")

    def __init__(self, name):
        self.name, self.value, self.children = name, 0, {}


def build_tree(stacks):
    root = Node("all")
    for stack, n in stacks.items():
        root.value += n
        node = root
        for f in stack.split(";"):
            node = node.children.setdefault(f, Node(f))
            node.value += n
    return root


def color(name):
    # Stable warm colours from the name, so the same function keeps its colour across graphs.
    h = 0
    for ch in name:
        h = (h * 31 + ord(ch)) & 0xFFFFFF
    r = 205 + (h % 50)
    g = 80 + ((h >> 8) % 130)
    b = 40 + ((h >> 16) % 40)
    return "rgb(%d,%d,%d)" % (r, g, b)


def render_svg(root, title, width=1600, frame_h=16, min_px=0.3):
    depth = [0]

    def max_depth(n, d):
        depth[0] = max(depth[0], d)
        for c in n.children.values():
            max_depth(c, d + 1)

    max_depth(root, 0)
    top = 40
    height = top + (depth[0] + 1) * frame_h + 20
    total = max(root.value, 1)
    scale = (width - 20) / total
    out = [
        '<?xml version="1.0" standalone="no"?>',
        '<svg version="1.1" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg" '
        'font-family="monospace" font-size="11">' % (width, height),
        '<rect x="0" y="0" width="100%" height="100%" fill="#f8f8f0"/>',
        '<text x="%d" y="22" font-size="15" text-anchor="middle">%s</text>'
        % (width // 2, html.escape(title)),
    ]

    def draw(n, x, d):
        w = n.value * scale
        if w < min_px:
            return
        y = height - 20 - (d + 1) * frame_h
        pct = 100.0 * n.value / total
        label = html.escape(n.name)
        out.append('<g><title>%s (%d samples, %.2f%%)</title>' % (label, n.value, pct))
        out.append('<rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s" rx="2"/>'
                   % (x, y, w, frame_h - 1, color(n.name)))
        chars = int(w / 7)
        if chars >= 3:
            text = n.name if len(n.name) <= chars else n.name[: chars - 2] + ".."
            out.append('<text x="%.2f" y="%d">%s</text>' % (x + 2, y + frame_h - 4, html.escape(text)))
        out.append("</g>")
        cx = x
        for c in sorted(n.children.values(), key=lambda c: c.name):
            draw(c, cx, d + 1)
            cx += c.value * scale

    draw(root, 10, 0)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", nargs="?", help="perf script output or folded stacks (default stdin)")
    ap.add_argument("--from-folded", action="store_true", help="input is already folded")
    ap.add_argument("--folded", help="write folded stacks here")
    ap.add_argument("--svg", help="write the flame graph here")
    ap.add_argument("--title", default="spoa-waf CPU flame graph")
    ap.add_argument("--comm", action="store_true", help="keep the thread name as the root frame")
    ap.add_argument("--top", type=int, default=25, help="hottest leaf functions to print")
    ap.add_argument("--own", metavar="PREFIX",
                    help="also charge each sample to its innermost frame starting with PREFIX "
                         "(e.g. spoa_waf::): time per own function, library calls included")
    a = ap.parse_args()
    src = open(a.input, encoding="utf-8", errors="replace") if a.input else sys.stdin
    stacks = read_folded(src) if a.from_folded else fold_perf_script(src, a.comm)
    if not stacks:
        print("flamegraph.py: no samples", file=sys.stderr)
        return 1
    if a.folded:
        with open(a.folded, "w", encoding="utf-8") as f:
            for s, n in sorted(stacks.items()):
                f.write("%s %d\n" % (s, n))
    if a.svg:
        with open(a.svg, "w", encoding="utf-8") as f:
            f.write(render_svg(build_tree(stacks), a.title))
    leaves = collections.Counter()
    for s, n in stacks.items():
        leaves[s.rsplit(";", 1)[-1]] += n
    total = sum(stacks.values())
    print("%d samples; hottest leaf functions (self time):" % total, file=sys.stderr)
    for name, n in leaves.most_common(a.top):
        print("  %6.2f%%  %s" % (100.0 * n / total, name), file=sys.stderr)
    if a.own:
        own = collections.Counter()
        for s, n in stacks.items():
            frames = [f for f in s.split(";") if f.startswith(a.own)]
            own[frames[-1] if frames else "(outside %s)" % a.own] += n
        print("by innermost %s frame (its callees included):" % a.own, file=sys.stderr)
        for name, n in own.most_common(a.top):
            print("  %6.2f%%  %s" % (100.0 * n / total, name), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
