"""Pairs from a GRPO run's logged completions: in every group, the best completion against the worst.

A GRPO run with ``log_completions: true`` writes ``OUTPUT_DIR/completions/completions_<step>.parquet`` at every
logged step (TRL's table: ``step``, ``prompt``, ``completion``, one column per reward function, owlcap's
``video_id``, ``advantage``). A group is the rows of one step with the same video and prompt: the G captions the
policy sampled for that video. Each row's total reward is the run's own weighting of its reward columns (read from
``OUTPUT_DIR/owlcap_config.yaml``: ``reward.cser_weight``, ``reward.length_weight``); a row with a missing reward
(the judge failed, the video did not decode) is left out, never scored 0. The pair is kept when the best total beats
the worst by more than ``grpo.min_margin``: Tarsier2's and VDC-Agent's self-sampled, automatically scored pairs,
here with the reward the policy was trained on. The video, its trims and system prompt come from the run's training
data (``data.train_files``), matched by ``video_id``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import yaml

from owlcap.data.pairs.config import PairsConfig
from owlcap.data.pairs.items import Item, ItemOutcome, Models, Planned, item_id
from owlcap.data.pairs.schema import PreferencePair, same_text
from owlcap.data.records import CaptionExample, read_caption_examples
from owlcap.errors import DataError
from owlcap.hashing import file_digest

logger = logging.getLogger(__name__)

COMPLETIONS = "completions"
RUN_CONFIG = "owlcap_config.yaml"
REWARD_WEIGHTS = {"cser": "cser_weight", "length": "length_weight"}  # reward column -> its weight in reward:


def plan_completions(config: PairsConfig) -> Planned:
    """One item per completions file of every listed run."""
    planned = Planned()
    for run in config.grpo.runs:
        folder, run_config = _locate(Path(run))
        weights = _weights(run_config, folder.parent / RUN_CONFIG)
        examples, errors = _training_examples(run_config, folder.parent / RUN_CONFIG)
        planned.bad_lines += [str(error) for error in errors]
        files = sorted(folder.glob("completions_*.parquet"))
        if not files:
            raise DataError(folder, "no completions_*.parquet here: was the run trained with log_completions: true?")
        for file in files:
            planned.items.append(_item(file, weights, examples, config))
    return planned


def _locate(path: Path) -> tuple[Path, dict[str, Any]]:
    """The completions folder and the run config of a GRPO output folder (or of its completions folder)."""
    if (path / COMPLETIONS).is_dir():
        folder = path / COMPLETIONS
    elif path.name == COMPLETIONS and path.is_dir():
        folder = path
    elif (path / RUN_CONFIG).is_file():
        raise DataError(path, "no completions/ folder: train GRPO with log_completions: true to log them")
    else:
        raise DataError(path, "not a GRPO output folder (it has no completions/ and no owlcap_config.yaml)")
    config_file = folder.parent / RUN_CONFIG
    if not config_file.is_file():
        raise DataError(config_file, "no such file: the GRPO run's resolved config names its rewards and data")
    try:
        run_config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(config_file, f"unreadable YAML ({exc})") from exc
    if not isinstance(run_config, dict) or not isinstance(run_config.get("reward"), dict):
        raise DataError(config_file, "not a GRPO run config (no reward section)")
    return folder, run_config


def _weights(run_config: dict[str, Any], where: Path) -> dict[str, float]:
    reward = run_config["reward"]
    weights = {column: float(reward.get(field, 1.0)) for column, field in REWARD_WEIGHTS.items()}
    weights = {column: weight for column, weight in weights.items() if weight > 0}
    if not weights:
        raise DataError(where, "reward: every reward weight is 0")
    return weights


def _training_examples(run_config: dict[str, Any], where: Path) -> tuple[dict[str, CaptionExample], list[DataError]]:
    data = run_config.get("data") or {}
    files = data.get("train_files")
    if not files:
        raise DataError(where, "data.train_files is missing: the videos of the completions cannot be found")
    examples, errors = read_caption_examples(files, video_root=data.get("video_root"), check_files=False)
    return {example.id: example for example in examples}, errors


def _item(file: Path, weights: dict[str, float], examples: dict[str, CaptionExample], config: PairsConfig) -> Item:
    inputs = {"file": str(file), "digest": file_digest(file), "weights": weights, "min_margin": config.grpo.min_margin}
    inputs["examples"] = sorted((e.id, e.video, e.start, e.end, e.system) for e in examples.values())

    async def make(models: Models) -> ItemOutcome:
        return group_pairs(file, weights, examples, config.grpo.min_margin)

    return Item(item_id("grpo", inputs), "grpo", str(file), make)


def group_pairs(
    file: Path, weights: dict[str, float], examples: dict[str, CaptionExample], min_margin: float
) -> ItemOutcome:
    """Best vs worst of every group in one completions file."""
    outcome = ItemOutcome()
    groups: dict[tuple[Any, str, str], list[tuple[float, str]]] = {}
    for row in _rows(file, weights):
        total = sum(weight * row[column] for column, weight in weights.items())
        key = (row["step"], str(row["video_id"]), str(row["prompt"]))
        if math.isnan(total):
            outcome.notes.append("grpo: a completion without a reward (judge failure or undecodable video)")
            continue
        groups.setdefault(key, []).append((total, str(row["completion"])))
    for (step, video_id, prompt), scored in groups.items():
        example = examples.get(video_id)
        if example is None:
            outcome.notes.append("grpo: a video id not in the run's training data")
            continue
        if len(scored) < 2:
            outcome.notes.append("grpo: a group with fewer than 2 scored completions")
            continue
        best = max(scored, key=lambda item: item[0])
        worst = min(scored, key=lambda item: item[0])
        if best[0] - worst[0] <= min_margin or same_text(best[1], worst[1]):
            outcome.notes.append(f"grpo: a group whose reward margin is not above min_margin={min_margin:g}")
            continue
        if not best[1].strip() or not worst[1].strip():
            outcome.notes.append("grpo: an empty completion")
            continue
        outcome.pairs.append(
            PreferencePair(
                video_id=video_id,
                video=example.video,
                prompt=prompt,
                chosen=best[1].strip(),
                rejected=worst[1].strip(),
                chosen_score=best[0],
                rejected_score=worst[0],
                source="grpo",
                why=f"GRPO step {step}: best vs worst of {len(scored)} completions by total reward ({_mix(weights)})",
                origin=f"{file}#step={step}",
                start=example.start,
                end=example.end,
                system=example.system,
            )
        )
    return outcome


def _rows(file: Path, weights: dict[str, float]) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(file)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a torn or foreign file
        raise DataError(file, f"not a readable parquet file ({exc})") from exc
    needed = {"step", "prompt", "completion", "video_id", *weights}
    missing = sorted(needed - set(table.column_names))
    if missing:
        raise DataError(file, f"columns {missing} missing (a completions table of an owlcap GRPO run has them)")
    rows = table.select(sorted(needed)).to_pylist()
    for row in rows:
        for column in weights:
            row[column] = math.nan if row[column] is None else float(row[column])
    return rows


def _mix(weights: dict[str, float]) -> str:
    return " + ".join(f"{weight:g} x {column}" for column, weight in weights.items())
