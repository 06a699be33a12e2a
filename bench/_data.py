"""Where the real human preference data lies (see ../shared/data/SOURCES.md): beside the
checkout by default, anywhere with ``FEEDBACK_SHARED_DATA``. The benchmarks that read it
say "nothing to measure" and stop cleanly where it is absent (a clone elsewhere)."""

import os
from pathlib import Path

SHARED_DATA = Path(
    os.environ.get(
        "FEEDBACK_SHARED_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    )
)
