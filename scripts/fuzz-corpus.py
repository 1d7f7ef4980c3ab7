#!/usr/bin/env python3
"""Seeds the fuzzing corpus from docs/vectors.json: every frame's and every
stream's wire bytes, and every message-error case, one file each.

  fuzz-corpus.py DIR
"""
import hashlib
import json
import sys
from pathlib import Path


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 64
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    vectors = json.loads((Path(__file__).resolve().parent.parent / "docs" / "vectors.json").read_text())
    written = 0
    for group in ("frames", "streams", "message_errors"):
        for case in vectors[group]:
            data = bytes.fromhex(case["wire"].replace(" ", ""))
            (out / f"{group}-{hashlib.sha1(data).hexdigest()[:12]}").write_bytes(data)
            written += 1
    print(f"fuzz-corpus: {written} seeds in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
