"""From every source's pairs to the exported set: deduplicated, and balanced with a cap per video clip.

A pair whose chosen and rejected differ only in whitespace teaches nothing and is dropped; a pair proposed twice
(same video, clip, prompt, system, chosen and rejected: the same ``id``) is kept once. Then each clip keeps at most
``cap`` pairs: the sources take turns (``SOURCES`` order), each offering its widest margin first, so one source
cannot fill a video's share alone and every video weighs about the same in training.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from owlcap.data.pairs.schema import SOURCES, PreferencePair, same_text


def select_pairs(pairs: Iterable[PreferencePair], cap: int) -> tuple[list[PreferencePair], Counter[str]]:
    """``(kept pairs, dropped counts by reason)``; kept pairs are grouped by clip, clips in first-seen order."""
    dropped: Counter[str] = Counter()
    seen: set[str] = set()
    by_clip: dict[tuple, dict[str, list[PreferencePair]]] = {}
    for pair in pairs:
        if same_text(pair.chosen, pair.rejected):
            dropped["chosen equals rejected"] += 1
            continue
        if pair.id in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(pair.id)
        by_clip.setdefault(pair.clip, {}).setdefault(pair.source, []).append(pair)
    kept: list[PreferencePair] = []
    for by_source in by_clip.values():
        queues = [sorted(by_source[source], key=lambda p: -p.margin) for source in SOURCES if source in by_source]
        taken = 0
        while taken < cap and any(queues):
            for queue in queues:
                if queue and taken < cap:
                    kept.append(queue.pop(0))
                    taken += 1
        dropped["over the per-video cap"] += sum(len(queue) for queue in queues)
    return kept, +dropped
