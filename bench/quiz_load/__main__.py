"""`python -m bench.quiz_load`: see bench/quiz_load/cli.py and bench/README.md."""

from __future__ import annotations

import sys

from bench.quiz_load.cli import main

sys.exit(main())
