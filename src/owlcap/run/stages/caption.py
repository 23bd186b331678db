"""The caption stage: the same videos captioned by each chosen model (before SFT, after SFT, after GRPO).

Each model writes ``RUN_DIR/caption/<model>.jsonl`` through ``owlcap.caption.caption_videos`` (the runner
behind ``owlcap caption``), so an interrupted stage continues where it stopped: the ids already written are skipped.
The engine comes from ``owlcap.caption.load_caption_engine``: the model loaded in process, or, for a
captioner listed in the pipeline's ``servers``, an OpenAI-compatible server (vLLM) that serves it.
"""

from __future__ import annotations

import logging
from typing import Any

from owlcap.errors import DataError
from owlcap.run.resolve import PipelineSource, stage_source, validate_stage
from owlcap.run.stages.base import Layout, ResolvedStage, RunContext, Stage

logger = logging.getLogger(__name__)


class CaptionFailures(DataError):
    """Some videos could not be captioned (the stage fails unless ``caption.allow_failures``)."""


def resolve_caption(source: PipelineSource, layout: Layout) -> ResolvedStage:
    from owlcap.caption.config import CaptionConfig

    section = source.config.caption
    stage = stage_source(source, "caption", section, layout.run_dir)
    config = validate_stage(CaptionConfig, stage)
    upstream = [name for name in section.models if name != "base"]
    extra = {"models": section.models, "allow_failures": section.allow_failures, "base_model": "base" in section.models}
    extra["servers"] = served_models(source, section.models)
    inputs = {f"caption.videos[{index}]": path for index, path in enumerate(section.videos)}
    return ResolvedStage(
        "caption",
        config,
        stage.describe(),
        inputs=inputs,
        upstream=upstream,
        extra=extra,
        origin=source.origin,  # the videos are a pipeline field, not the caption config's
    )


def served_models(source: PipelineSource, captioners: list[str]) -> dict[str, str]:
    """Which captioners a server answers for, by served model name (fingerprinted; URLs and replicas are not)."""
    from owlcap.llm import parse_spec

    servers = source.config.servers
    return {name: parse_spec(servers[name]).model for name in captioners if name in servers}


def model_path(name: str, context: RunContext) -> str:
    """Where captioner ``name`` lives: the base model, or the model the SFT / GRPO stage saved."""
    if name == "base":
        return context.base_model
    return str(context.layout.run_dir / context.records[name].summary["model"])


def captioner_spec(name: str, context: RunContext) -> str:
    """What captions for ``name``: its server (``servers``) or its model, for ``load_caption_engine``."""
    return context.pipeline.config.servers.get(name) or model_path(name, context)


def run_caption(stage: ResolvedStage, context: RunContext) -> dict[str, Any]:
    from owlcap.caption.engines import load_caption_engine
    from owlcap.caption.runner import caption_videos
    from owlcap.data.sources import collect_videos

    section = context.pipeline.config.caption
    items, bad_inputs = collect_videos(section.videos)
    if not items:
        raise DataError(", ".join(section.videos), "caption.videos: no videos found")
    problems = [str(error) for error in bad_inputs]
    summary: dict[str, Any] = {"videos": len(items), "bad_inputs": problems, "models": {}}
    for name in section.models:
        spec = captioner_spec(name, context)
        engine = load_caption_engine(spec, stage.config.model_options, llm=section.server)
        try:
            result = caption_videos(items, context.layout.captions(name), engine, stage.config)
        finally:
            close = getattr(engine, "close", None)
            if callable(close):
                close()
            del engine
        entry = {"file": str(context.layout.captions(name)), "engine": spec if spec.startswith("openai:") else "local"}
        summary["models"][name] = entry | result.to_dict()
        problems += [f"{name}: {item_id}: {cause}" for item_id, cause in result.failures]
    if problems and not section.allow_failures:
        listed = "\n  ".join(problems[:20])
        raise CaptionFailures(
            context.layout.stage_dir("caption"),
            f"{len(problems)} video(s) could not be captioned (a re-run retries only these; "
            f"caption.allow_failures: true goes on without them):\n  {listed}",
        )
    return summary


CAPTION = Stage("caption", resolve_caption, run_caption, "caption the videos with each model")
