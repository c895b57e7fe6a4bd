"""Where every benchmark writes its figures: bench/results/NAME.json (git-ignored)."""

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_json(name: str, figures: dict) -> Path:
    """Write `figures` to bench/results/`name` (indented, UTF-8 as it is) and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / name
    out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    return out
