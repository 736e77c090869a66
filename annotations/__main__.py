"""`python -m annotations`: print the generated `docs/annotations.md`."""

from __future__ import annotations

import sys

from annotations.docs import render

sys.stdout.write(render())
