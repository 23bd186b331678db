"""VDC prompts: the captioning prompt of each (video, dimension), and the two judge calls of each question.

Call 1 answers the question from the caption alone; call 2 compares that answer with the ground truth and returns a
Python dict ``{'pred': 'yes'|'no', 'score': 0..5}``. The texts come from a ``PromptSet`` and are filled by plain
insertion (``fill``), exactly as the official f-strings do. ``offline_answer`` / ``offline_verdict`` are the two
calls' recipes for the offline ``rules`` judge (word overlap; demos and tests only).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from owlcap.eval.prompt_sets import PromptSet, fill
from owlcap.eval.vdc.config import VDCProtocol
from owlcap.eval.vdc.data import VDCData
from owlcap.llm import Message
from owlcap.llm.rules_text import TextRules, content_words, sentences

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


# ------------------------------------------------------------------------------------------ offline recipes
# What the ``rules`` judge answers (demos and tests; weak by design, see owlcap.llm.rules_text). The answers take the
# official formats, so the official parsers read them exactly as they read a model's.

NOT_MENTIONED = "The description does not mention it."


def offline_answer(caption: str, question: str) -> Callable[[TextRules], str]:
    """Call 1 offline: the caption sentence sharing the most content words with the question (a short answer);
    ``NOT_MENTIONED`` when no sentence shares any."""

    def answer(rules: TextRules) -> str:
        wanted = set(content_words(question))
        best, best_overlap = NOT_MENTIONED, 0
        for sentence in sentences(caption):
            overlap = len(wanted & set(content_words(sentence)))
            if overlap > best_overlap:
                best, best_overlap = sentence, overlap
        return best

    return answer


def offline_verdict(gt_answer: str, pred_answer: str) -> Callable[[TextRules], str]:
    """Call 2 offline: score = round(5 x the share of the ground truth's content words found in the predicted
    answer), 'yes' when that share reaches the rules' support threshold; written as the official Python dict."""

    def verdict(rules: TextRules) -> str:
        share = rules.support_score(gt_answer, pred_answer)
        pred = "yes" if share >= rules.threshold else "no"
        return repr({"pred": pred, "score": round(5 * share)})

    return verdict
