"""Fetch the demo's sample: 11 s of President Kennedy's inaugural address (public-domain speech), the
recording whisper.cpp ships in its source tree, taken from the pinned pywhispercpp source distribution
with pip and checked against its SHA-256. Usage: python samples/fetch.py samples/jfk.mp3
"""

from __future__ import annotations

import sys
from pathlib import Path

from whisper_api.models.packaged import PYWHISPERCPP_SOURCE, PackagedFile, fetch_packaged, write_atomically

JFK = PackagedFile(PYWHISPERCPP_SOURCE, "whisper.cpp/samples/jfk.mp3",
                   "20d3323a2bcce6f25498b8911a397503a0a99fa92b6ba58d62788cb42b6e5459")
TRANSCRIPT = ("And so my fellow Americans, ask not what your country can do for you, "
              "ask what you can do for your country.")

if __name__ == "__main__":
    destination = Path(sys.argv[1] if len(sys.argv) > 1 else "samples/jfk.mp3")
    write_atomically(destination, fetch_packaged(JFK)[JFK.member])
    print(f"fetched {destination}; its words: {TRANSCRIPT}", file=sys.stderr)
