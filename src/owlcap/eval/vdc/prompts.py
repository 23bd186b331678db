"""VDC prompts: the captioning prompt of each (video, dimension), and the two judge calls of each question.

Call 1 answers the question from the caption alone; call 2 compares that answer with the ground truth and returns a
Python dict ``{'pred': 'yes'|'no', 'score': 0..5}``. The texts come from a ``PromptSet`` and are filled by plain
insertion (``fill``), exactly as the official f-strings do.
"""

from __future__ import annotations

import random

from owlcap.eval.prompt_sets import PromptSet, fill
from owlcap.eval.vdc.config import VDCProtocol
from owlcap.eval.vdc.data import VDCData
from owlcap.llm import Message

ANSWER_KIND, VERDICT_KIND = "vdc.answer", "vdc.verdict"
VERSION = "1"

REQUIRED = {
    **{("caption_prompt_pools", d): () for d in ("camera", "short", "background", "main_object", "detailed")},
    ("judge", "answer_from_caption", "system"): (),
    ("judge", "answer_from_caption", "user"): ("CAPTION", "QUESTION"),
    ("judge", "score_against_answer", "system"): (),
    ("judge", "score_against_answer", "user"): ("QUESTION", "GT_ANSWER", "PRED_ANSWER"),
}
"""Every text a VDC prompt set must hold, with the placeholders it must contain."""


def caption_prompts(data: VDCData, prompts: PromptSet, protocol: VDCProtocol) -> dict[tuple[str, str], str]:
    """The captioning prompt of every (dimension, video), drawn from the dimension's pool (see ``VDCProtocol``)."""
    chosen: dict[tuple[str, str], str] = {}
    for dimension, dimension_data in data.dimensions.items():
        pool = prompts.get("caption_prompt_pools", dimension)
        stream = random.Random(protocol.caption_prompt_seed)
        for video_id in dimension_data.videos:
            if protocol.caption_prompts == "fixed":
                prompt = pool[min(protocol.caption_prompt_index, len(pool) - 1)]
            elif protocol.caption_prompts == "sequential":
                prompt = stream.choice(pool)
            else:
                # A string seed is hashed with SHA-512 by random.Random: stable across runs and machines.
                prompt = random.Random(f"{protocol.caption_prompt_seed}/{dimension}/{video_id}").choice(pool)
            chosen[(dimension, video_id)] = prompt
    return chosen


def answer_messages(prompts: PromptSet, caption: str, question: str) -> list[Message]:
    """Call 1: answer ``question`` from ``caption`` alone (system + user, as the official scorers send it)."""
    texts = prompts.get("judge", "answer_from_caption")
    return [
        {"role": "system", "content": texts["system"]},
        {"role": "user", "content": fill(texts["user"], CAPTION=caption, QUESTION=question)},
    ]


def verdict_messages(prompts: PromptSet, question: str, gt_answer: str, pred_answer: str) -> list[Message]:
    """Call 2: judge ``pred_answer`` against the ground truth ``gt_answer``."""
    texts = prompts.get("judge", "score_against_answer")
    user = fill(texts["user"], QUESTION=question, GT_ANSWER=gt_answer, PRED_ANSWER=pred_answer)
    return [{"role": "system", "content": texts["system"]}, {"role": "user", "content": user}]
