"""One video through every stage: decode -> motion caption -> fused caption -> units -> verdicts -> kept or not.

``Pipeline.process(item)`` is the unit of work of both engines (the local one runs many on one event loop, the Ray
one runs it inside actors). Each stage takes a slot of its own semaphore for each request, so the stages of
different videos overlap and each stage's concurrency stays bounded. ``process`` never raises for a bad video or a
failed judge: it returns a failed record naming the stage and the cause. Cancelling it (Ctrl-C) loses only itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from owlcap.data import prompts
from owlcap.data.config import BuildConfig
from owlcap.data.decoding import VIDEO_STAGES, Decoded, decode
from owlcap.data.failures import StageFailed
from owlcap.data.schema import SCHEMA_VERSION, BuildRecord, StageRun, unit_verdicts
from owlcap.errors import ConfigError, JudgeError, VideoDecodeError
from owlcap.llm import LLM, Task, from_spec
from owlcap.llm.stats import usage_scope
from owlcap.units import decompose_task, verify_unit_task, verify_video_task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkItem:
    """One video to build, with what the inputs (or an earlier record) already give."""

    id: str
    video: str
    video_key: str
    mdf_fingerprint: str
    fge_fingerprint: str
    start: float | None = None
    end: float | None = None
    caption: str | None = None
    motion_caption: str | None = None
    prompt: str | None = None
    """The input line's own user prompt (a released-format conversation line's human turn): kept in the record so
    that training asks what the line asked; ``None`` = the trainer's default prompt."""
    previous: dict[str, Any] | None = None
    """MDF outputs of an earlier record with the same MDF fingerprint: motion/fused caption and their stage runs."""


@dataclass
class ItemResult:
    """What ``process`` hands the writer: the record (JSON-ready) and the viewer's thumbnail strip."""

    record: dict[str, Any]
    strip: bytes | None = None


@dataclass
class _Progress:
    stages: dict[str, StageRun] = field(default_factory=dict)
    decoded: Decoded | None = None
    motion: str | None = None
    fused: str | None = None
    units: list[str] | None = None


class Pipeline:
    """The models and limits of one process; ``await process(item)`` builds one record."""

    def __init__(self, config: BuildConfig, llms: dict[str, LLM] | None = None):
        self.config = config
        self.llms = llms if llms is not None else build_llms(config)
        self.sampling = _sampling_for(config, self.llms)
        self._jpeg_quality = _server_jpeg_quality(self.llms)
        self._pool = ThreadPoolExecutor(config.concurrency.decode_workers, thread_name_prefix="owlcap-decode")
        self._limits: dict[str, asyncio.Semaphore] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for llm in {id(llm): llm for llm in self.llms.values()}.values():
            llm.close()

    async def aclose(self) -> None:
        """Close the server connections opened on the running loop (before the loop itself closes)."""
        for llm in {id(llm): llm for llm in self.llms.values()}.values():
            await llm.aclose()

    def llm_stats(self) -> dict[str, Any]:
        """Counters per model spec (and per endpoint for servers), for stats.json."""
        out: dict[str, Any] = {}
        for llm in {id(llm): llm for llm in self.llms.values()}.values():
            entry: dict[str, Any] = llm.stats.snapshot().to_dict()
            if hasattr(llm, "endpoints"):
                entry["endpoints"] = llm.endpoints()
            out[llm.name] = entry
        return out

    def _limit(self, stage: str) -> asyncio.Semaphore:
        if stage not in self._limits:
            self._limits[stage] = asyncio.Semaphore(getattr(self.config.concurrency, stage))
        return self._limits[stage]

    async def process(self, item: WorkItem) -> ItemResult:
        started = time.perf_counter()
        progress = _Progress()
        try:
            progress.decoded = await self._decode(item, progress)
            async with self._limit("max_in_flight"):  # decoding ran ahead; the model stages take this many videos
                progress.motion, progress.fused = await self._mdf(item, progress)
                outcome = await self._fge(item, progress)
        except StageFailed as failed:
            outcome = {"status": "failed", "failure": failed.failure, "error": str(failed)}
        record = self._record(item, progress, outcome, time.perf_counter() - started)
        strip = progress.decoded.strip if progress.decoded is not None else None
        return ItemResult(record.model_dump(mode="json", exclude_none=True), strip)

    # ------------------------------------------------------------------------------------------------ stages

    async def _decode(self, item: WorkItem, progress: _Progress) -> Decoded:
        started = time.perf_counter()
        try:
            sampling = self.sampling.clip(item.start, item.end)
        except ValueError as exc:
            raise StageFailed("decode", f"{item.video}: clip trims: {_first_line(exc)}") from exc
        report = self.config.report
        loop = asyncio.get_running_loop()
        try:
            decoded = await loop.run_in_executor(
                self._pool,
                lambda: decode(
                    item.video,
                    sampling,
                    self.config.limits,
                    jpeg_quality=self._jpeg_quality,
                    strip_frames=report.strip_frames,
                    strip_height=report.strip_height,
                ),
            )
        except VideoDecodeError as exc:
            raise StageFailed("decode", str(exc)) from exc
        finally:
            progress.stages["decode"] = StageRun(seconds=round(time.perf_counter() - started, 4))
        return decoded

    async def _mdf(self, item: WorkItem, progress: _Progress) -> tuple[str | None, str]:
        if item.caption is not None:
            progress.stages["fusion"] = StageRun(source="manifest")
            return item.motion_caption, item.caption
        if item.previous is not None:
            for stage in ("motion", "fusion"):
                if stage in item.previous.get("stages", {}):
                    run = StageRun.model_validate(item.previous["stages"][stage])
                    progress.stages[stage] = run.model_copy(update={"source": "previous"})
            return item.previous.get("motion_caption"), item.previous["fused_caption"]
        decoded, config = progress.decoded, self.config
        assert decoded is not None
        path = item.video
        motion = item.motion_caption
        if motion is None:
            task = prompts.motion_task(
                decoded.video,
                video_key=item.video_key,
                prompt=config.mdf.motion_prompt,
                path=path,
                options=config.stage_options("motion"),
            )
            motion = await self._ask("motion", task, progress)
        else:
            progress.stages["motion"] = StageRun(source="manifest")
        task = prompts.fusion_task(
            decoded.video,
            motion,
            video_key=item.video_key,
            template=config.mdf.fusion_prompt,
            path=path,
            options=config.stage_options("fusion"),
        )
        return motion, await self._ask("fusion", task, progress)

    async def _fge(self, item: WorkItem, progress: _Progress) -> dict[str, Any]:
        fge, caption, decoded = self.config.fge, progress.fused, progress.decoded
        assert caption is not None and decoded is not None
        split = _with_options(decompose_task(caption), self.config.stage_options("splitter"))
        units = progress.units = (await self._ask("splitter", split, progress)).units
        if not units:
            return {"status": "rejected", "units": [], "reason": "the splitter found no units in the caption"}
        options = self.config.stage_options("verifier")
        if fge.verify_mode == "structured":
            task = verify_video_task(units, decoded.video, video_key=item.video_key, path=item.video)
            answer = await self._ask("verifier", _with_options(task, options), progress)
            supported = [verdict == "yes" for verdict in answer.verdicts]
            p_yes = None
        else:
            supported, p_yes = await self._verify_per_unit(item, units, options, progress)
        accuracy = sum(supported) / len(units)
        kept = accuracy + 1e-9 >= fge.threshold
        outcome: dict[str, Any] = {"units": units, "verdicts": supported, "p_yes": p_yes, "accuracy": accuracy}
        outcome["status"] = "kept" if kept else "rejected"
        if not kept:
            missing = len(units) - sum(supported)
            outcome["reason"] = (
                f"unit accuracy {accuracy:.3f} < threshold {fge.threshold}: {missing} of {len(units)} units not "
                "supported by the video"
            )
        return outcome

    async def _verify_per_unit(
        self, item: WorkItem, units: list[str], options: dict[str, Any], progress: _Progress
    ) -> tuple[list[bool], list[float | None]]:
        """One yes/no request per unit, all at once (the verifier's semaphore bounds them); any unit without a
        verdict fails the record."""
        assert progress.decoded is not None
        video, probabilities = progress.decoded.video, self.config.fge.decision == "probability"
        tasks = [
            verify_unit_task(unit, video, video_key=item.video_key, path=item.video, probabilities=probabilities)
            for unit in units
        ]
        answers = await asyncio.gather(
            *(self._ask("verifier", _with_options(task, options), progress) for task in tasks), return_exceptions=True
        )
        failed = [answer for answer in answers if isinstance(answer, BaseException)]
        if failed:
            if not isinstance(failed[0], StageFailed):
                raise failed[0]
            first = failed[0].failure.message
            raise StageFailed("verifier", f"{len(failed)} of {len(units)} units got no verdict; first: {first}")
        return [answer["verdict"] == "yes" for answer in answers], [answer.get("p_yes") for answer in answers]

    async def _ask(self, stage: str, task: Task, progress: _Progress) -> Any:
        """One model call of ``stage``: a slot of the stage's semaphore, usage counted into the stage's run."""
        run = progress.stages.get(stage)
        if run is None:
            run = progress.stages[stage] = StageRun(
                model=self.llms[stage].name, prompt_version=task.version, options=dict(task.options), source="model"
            )
        started = time.perf_counter()
        with usage_scope() as usage:
            try:
                async with self._limit(stage):
                    answer = await self.llms[stage].answer(task)
            except JudgeError as exc:
                raise StageFailed(stage, str(exc)) from exc
            finally:
                run.seconds = round(run.seconds + time.perf_counter() - started, 4)
                run.requests += usage.requests
                run.cache_hits += usage.cache_hits
                run.prompt_tokens += usage.prompt_tokens
                run.completion_tokens += usage.completion_tokens
                if run.cache_hits and not run.requests:
                    run.source = "cache"
        return answer.value

    # ------------------------------------------------------------------------------------------------ record

    def _record(self, item: WorkItem, progress: _Progress, outcome: dict[str, Any], seconds: float) -> BuildRecord:
        config, decoded = self.config, progress.decoded
        status = outcome["status"]
        units = outcome.get("units", progress.units)
        verdicts = outcome.get("verdicts")
        models = {stage: run.model for stage, run in progress.stages.items() if run.model is not None}
        return BuildRecord(
            schema_version=SCHEMA_VERSION,
            id=item.id,
            video=item.video,
            start=item.start,
            end=item.end,
            caption=progress.fused,
            prompt=item.prompt,
            motion_caption=progress.motion,
            fused_caption=progress.fused,
            units=units,
            unit_verdicts=unit_verdicts(units, verdicts, outcome.get("p_yes")) if verdicts is not None else None,
            unit_accuracy=round(outcome["accuracy"], 6) if "accuracy" in outcome else None,
            models=models or None,
            status=status,
            kept=status == "kept",
            rejection_reason=outcome.get("reason"),
            threshold=config.fge.threshold if status != "failed" else None,
            verify_mode=config.fge.verify_mode,
            probe=decoded.probe if decoded else None,
            sampling=decoded.sampling if decoded else None,
            frames=decoded.frames if decoded else None,
            stages=progress.stages,
            failure=outcome.get("failure"),
            error=outcome.get("error"),
            seconds=round(seconds, 4),
            video_key=item.video_key,
            mdf_fingerprint=item.mdf_fingerprint,
            fge_fingerprint=item.fge_fingerprint,
        )


def build_llms(config: BuildConfig) -> dict[str, LLM]:
    """One LLM per stage that has a model; stages naming the same spec share one (one hf model in memory), whose
    request limit covers all of them (each stage's own semaphore then bounds its share)."""
    specs = {stage: spec for stage, spec in config.models.model_dump().items() if spec is not None}
    shared: dict[str, LLM] = {}
    for spec in set(specs.values()):
        slots = sum(getattr(config.concurrency, stage) for stage, s in specs.items() if s == spec)
        shared[spec] = from_spec(spec, config.llm.model_copy(update={"concurrency": min(slots, 4096)}))
    return {stage: shared[spec] for stage, spec in specs.items()}


def _sampling_for(config: BuildConfig, llms: dict[str, LLM]):
    """The sampling config, its frame-size multiple taken from the in-process (hf) models that see the video."""
    factors = {llm.mllm.vision_factor for stage, llm in llms.items() if stage in VIDEO_STAGES and llm.backend == "hf"}
    if len(factors) > 1:
        raise ConfigError(
            f"the hf video models of this build need different frame-size multiples {sorted(factors)}; use models of "
            "one family for the stages that see the video"
        )
    if factors and config.sampling.factor not in factors:
        factor = factors.pop()
        logger.info("sampling frames in multiples of %d px, as the hf video model needs", factor)
        return config.sampling.model_copy(update={"factor": factor})
    return config.sampling


def _server_jpeg_quality(llms: dict[str, LLM]) -> int | None:
    """The JPEG quality to pre-encode frames with when a video stage sends frames to a server."""
    for stage, llm in llms.items():
        if stage in VIDEO_STAGES and llm.backend == "openai" and llm.config.video_transport == "frames":
            return llm.config.jpeg_quality
    return None


def _with_options(task: Task, options: dict[str, Any]) -> Task:
    from dataclasses import replace

    return replace(task, options={**options, **task.options})


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
