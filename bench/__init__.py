"""Benchmarks: tools that drive the product on loopback and print and write figures (never timed assertions).

Several drive the shared layer in-process (seeding accounts, a leaderboard batch, the report): its
`python/` directory goes on sys.path here, once, as /opt/python is on a Lambda function's.
"""

from __future__ import annotations

import sys
from pathlib import Path

_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "shared" / "python")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
