"""``docs/reliability.md`` stays true: every test it names as holding a promise exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_test_the_page_names_exists():
    page = (REPO / "docs" / "reliability.md").read_text(encoding="utf-8")
    named = set(re.findall(r"(tests/[\w/]+\.py)::(\w+)", page))
    assert len(named) > 60
    missing = [
        f"{path}::{name}"
        for path, name in sorted(named)
        if not re.search(rf"^(async )?def {name}\(", (REPO / path).read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert missing == []
