"""The Caption Set Equivalence Reward (CSER) on any judge.

Split the prediction into units U1..Un and the reference into units F1..Fm. Correctness is the share of Ui
supported by the whole reference (unit-to-set); completeness is the share of Fj covered by the whole prediction
(the other direction); the paper's reward is their sum.

How owlcap computes it (``protocol="fused"``, the default): the reference is split once and its units are cached
(in memory here, on disk through the judge's result cache), so every prediction of a group is judged against the
same reference units; then each prediction takes one request that splits it, judges its units against the
reference and judges each numbered reference unit against it. A group's predictions run concurrently. The
released code instead sends one request per prediction that re-splits both captions (``protocol="official"``),
one prediction at a time; its ``official_*`` options replay the released reward exactly (every completion judged
afresh, an unreadable answer scored 0, a judge failure stopping the run).

``criterion`` (fused, separate) decides what a "no" is: ``coverage`` (default; the paper's supported / covered) or
``conflict`` (the released prompt's rule: only a contradiction).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import threading
import time
import weakref
from collections.abc import Sequence

from owlcap.errors import JudgeError, OwlcapError
from owlcap.llm import LLM, LLMConfig, from_spec
from owlcap.reward.config import CSERConfig
from owlcap.reward.official import official_task, read_released_answer, yes_ratio
from owlcap.reward.result import CSERResult, UnitVerdict
from owlcap.units import decompose_task, judge_pair_task, verify_text_task

logger = logging.getLogger(__name__)


class CSER:
    """``await cser.score(pred, ref)`` / ``score_group(preds, ref)`` / ``score_batch(preds, refs)`` → ``CSERResult``.

    ``judge`` is an ``LLM`` or a model spec (``"rules"``, ``"openai:<model>@<url>"``...). Scoring never raises for
    a judge failure: the result comes back with ``failed=True`` and the error, and ``failures`` is counted.
    """

    def __init__(
        self, judge: LLM | str = "rules", config: CSERConfig | None = None, llm_config: LLMConfig | None = None
    ):
        self.judge = from_spec(judge, llm_config)
        self.config = config or CSERConfig()
        self.scored = 0
        self.failures = 0
        self.unparsable = 0  # official_unparsable: zero: answers scored 0 because they could not be read
        self._reference_units: collections.OrderedDict[str, list[str]] = collections.OrderedDict()
        # prefetch_nowait fills the cache from the judge's background loop while scoring reads it from another.
        self._units_lock = threading.Lock()
        # In-flight reference decompositions, per event loop (a future belongs to one loop).
        self._pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future]] = (
            weakref.WeakKeyDictionary()
        )

    # ------------------------------------------------------------------------------------------------ scoring

    async def score(self, prediction: str, reference: str) -> CSERResult:
        """Score one prediction against its reference caption."""
        start = time.perf_counter()
        protocol = self.config.protocol
        try:
            if protocol == "official":
                result = await self._score_official(prediction, reference)
            elif protocol == "separate":
                result = await self._score_separate(prediction, reference)
            else:
                result = await self._score_fused(prediction, reference)
        except OwlcapError as exc:
            if protocol == "official" and self.config.official_on_error == "stop":
                raise JudgeError(
                    f"CSER (official protocol): {exc}; official_on_error is 'stop' (the released "
                    "reward ends the run on a judge error): check the judge server, or set it to 'unscored'"
                ) from exc
            logger.warning("CSER (%s, judge %s): scoring failed: %s", protocol, self.judge.name, exc)
            result = CSERResult.failure(str(exc), protocol)
        result.latency_s = time.perf_counter() - start
        self.scored += 1
        self.failures += int(result.failed)
        self.unparsable += int(result.unparsable is not None)
        return result

    async def score_group(self, predictions: Sequence[str], reference: str) -> list[CSERResult]:
        """Score a GRPO group (predictions sharing one reference). Identical predictions are judged once, except
        under the official protocol with ``official_afresh`` (each gets its own request, as released).

        The official protocol runs them one at a time when ``official_sequential`` is set, as released.
        """
        official = self.config.protocol == "official"
        afresh = official and self.config.official_afresh
        texts = list(predictions) if afresh else list(dict.fromkeys(predictions))
        if official and self.config.official_sequential:
            judged = [await self.score(p, reference) for p in texts]
        else:
            judged = await asyncio.gather(*(self.score(p, reference) for p in texts))
        if afresh:
            return list(judged)
        by_text = dict(zip(texts, judged, strict=True))
        return [by_text[p] for p in predictions]

    async def score_batch(self, predictions: Sequence[str], references: Sequence[str]) -> list[CSERResult]:
        """Score predictions with their own references (a TRL batch: several groups); groups run concurrently."""
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references; give one each")
        groups: dict[str, list[int]] = {}
        for index, reference in enumerate(references):
            groups.setdefault(reference, []).append(index)
        results: list[CSERResult | None] = [None] * len(predictions)

        async def _group(reference: str, indices: list[int]) -> None:
            scored = await self.score_group([predictions[i] for i in indices], reference)
            for index, result in zip(indices, scored, strict=True):
                results[index] = result

        if self.config.protocol == "official" and self.config.official_sequential:
            for reference, indices in groups.items():  # the released reward loops over the whole batch in order
                await _group(reference, indices)
        else:
            await asyncio.gather(*(_group(ref, idx) for ref, idx in groups.items()))
        return results  # type: ignore[return-value]

    async def prefetch(self, references: Sequence[str]) -> int:
        """Split and cache the units of many references ahead of training; returns how many failed (logged).

        The official protocol splits both captions inside each request: there is nothing to prefetch, and no
        request is sent."""
        if self.config.protocol == "official":
            return 0
        outcomes = await asyncio.gather(*(self.reference_units(r) for r in set(references)), return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        for error in failed:
            if not isinstance(error, OwlcapError):
                raise error
            logger.warning("CSER prefetch: %s", error)
        return len(failed)

    def prefetch_nowait(self, references: Sequence[str]) -> concurrent.futures.Future[int]:
        """Start splitting ``references`` in the background and return at once. Call it when a GRPO batch is drawn,
        before its rollouts are generated: by scoring time the reference units are cached and no group pays the
        extra round trip of a cold reference."""
        return self.judge.submit_in_background(self.prefetch(list(references)))

    def score_sync(self, prediction: str, reference: str) -> CSERResult:
        return self.judge.run_in_background(self.score(prediction, reference))

    def score_group_sync(self, predictions: Sequence[str], reference: str) -> list[CSERResult]:
        return self.judge.run_in_background(self.score_group(predictions, reference))

    def score_batch_sync(self, predictions: Sequence[str], references: Sequence[str]) -> list[CSERResult]:
        return self.judge.run_in_background(self.score_batch(predictions, references))

    # -------------------------------------------------------------------------------------- reference units

    async def reference_units(self, reference: str) -> list[str]:
        """The units of ``reference``, split once: memory cache, then the judge's on-disk cache, then the judge.

        Concurrent calls for the same reference share one request.
        """
        key = " ".join(reference.split())
        if not key:
            raise JudgeError("the reference caption is empty; there is nothing to compare against")
        with self._units_lock:
            cached = self._reference_units.get(key)
            if cached is not None:
                self._reference_units.move_to_end(key)
                return cached
        pending = self._pending.setdefault(asyncio.get_running_loop(), {})
        future = pending.get(key)
        if future is None:
            future = asyncio.ensure_future(self._split_reference(key))
            pending[key] = future
            future.add_done_callback(lambda _: pending.pop(key, None))
        return await asyncio.shield(future)

    async def _split_reference(self, key: str) -> list[str]:
        units = (await self.judge.run(decompose_task(key))).units
        if not units:
            raise JudgeError("the judge found no units in the reference caption")
        with self._units_lock:
            self._reference_units[key] = units
            while len(self._reference_units) > self.config.reference_cache_size:
                self._reference_units.popitem(last=False)
        return units

    # ------------------------------------------------------------------------------------------- protocols

    async def _score_fused(self, prediction: str, reference: str) -> CSERResult:
        ref_units = await self.reference_units(reference)
        if not prediction.strip():
            return self._empty_prediction(ref_units)
        task = judge_pair_task(prediction, " ".join(reference.split()), ref_units, criterion=self.config.criterion)
        answer = await self.judge.run(task)
        pred = [UnitVerdict(u, v == "yes") for u, v in zip(answer.pred_units, answer.pred_supported, strict=True)]
        ref = [UnitVerdict(u, v == "yes") for u, v in zip(ref_units, answer.ref_covered, strict=True)]
        return CSERResult.scored(pred, ref, self.config)

    async def _score_separate(self, prediction: str, reference: str) -> CSERResult:
        if not prediction.strip():
            return self._empty_prediction(await self.reference_units(reference))

        async def _completeness() -> list[UnitVerdict]:
            units = await self.reference_units(reference)
            task = verify_text_task(units, prediction, criterion=self.config.criterion)
            verdicts = (await self.judge.run(task)).verdicts
            return [UnitVerdict(u, v == "yes") for u, v in zip(units, verdicts, strict=True)]

        async def _correctness() -> list[UnitVerdict]:
            units = (await self.judge.run(decompose_task(prediction))).units
            if not units:
                return []
            task = verify_text_task(units, reference, criterion=self.config.criterion)
            verdicts = (await self.judge.run(task)).verdicts
            return [UnitVerdict(u, v == "yes") for u, v in zip(units, verdicts, strict=True)]

        ref, pred = await asyncio.gather(_completeness(), _correctness(), return_exceptions=True)
        for outcome in (ref, pred):
            if isinstance(outcome, BaseException):
                raise outcome
        return CSERResult.scored(pred, ref, self.config)

    async def _score_official(self, prediction: str, reference: str) -> CSERResult:
        task = official_task(prediction, reference, self.config)
        if self.config.official_unparsable == "zero":
            raw = (await self.judge.answer(task)).raw or ""
            reading = read_released_answer(raw, require_think=self.config.official_thinking)
            result = CSERResult.scored(
                reading.pred_units,
                reading.gt_units,
                self.config,
                correctness=reading.correctness,
                completeness=reading.completeness,
            )
            result.unparsable = reading.problem
            return result
        answer = await self.judge.run(task)
        pred = [UnitVerdict(u.units, u.response == "Yes") for u in answer.pred_units]
        ref = [UnitVerdict(u.units, u.response == "Yes") for u in answer.gt_units]
        return CSERResult.scored(
            pred,
            ref,
            self.config,
            correctness=yes_ratio(answer.pred_units),
            completeness=yes_ratio(answer.gt_units),
        )

    def _empty_prediction(self, ref_units: list[str]) -> CSERResult:
        # An empty caption claims nothing and covers nothing: a real score of 0, not a judge failure.
        return CSERResult.scored([], [UnitVerdict(u, False) for u in ref_units], self.config)
