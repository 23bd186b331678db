"""Optional vLLM generation for video GRPO (GPU extra ``.[vllm]``; colocate mode, tensor parallel size 1).

TRL 1.16's ``VLLMGeneration.generate`` forwards images only, so video prompts go to the colocated engine here, with
TRL's weight sync and sampling settings: token-id prompts whose video placeholders are already expanded (the same
ids the training forward scores) plus ``multi_modal_data={"video": (frames, metadata)}`` with the frames owlcap
sampled, told not to resample or resize them.

NOT TESTED in this repository: no GPU (and so no vLLM) is available where the tests run. The CPU test-suite covers
everything else; treat this path as a starting point to verify on a GPU before relying on it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, is_dataclass

from owlcap.errors import ConfigError

logger = logging.getLogger(__name__)


def _metadata_dict(metadata) -> dict:
    if is_dataclass(metadata):
        return {key: value for key, value in asdict(metadata).items() if value is not None}
    return dict(metadata)


def generate_with_videos(trainer, prompt_ids, prepared, plan, num_generations):
    """Generate one completion per row with the colocated vLLM engine; returns ``(completion_ids, logprobs)``."""
    from trl.generation.vllm_generation import extract_logprobs
    from vllm import SamplingParams

    engine = trainer.vllm_generation
    if engine.mode != "colocate" or engine.tensor_parallel_size != 1:
        raise ConfigError("video generation with vLLM supports vllm_mode: colocate with vllm_tensor_parallel_size: 1")
    if trainer.state.global_step != trainer._last_loaded_step or engine._llm_weights_sleeping:
        engine.sync_weights()
        trainer._last_loaded_step = trainer.state.global_step
    params = {
        "n": 1,  # rows already repeat each prompt G times
        "repetition_penalty": engine.repetition_penalty,
        "temperature": engine.temperature,
        "top_p": engine.top_p,
        "top_k": engine.top_k,
        "min_p": 0.0 if engine.min_p is None else engine.min_p,
        "max_tokens": engine.max_completion_length,
        "logprobs": engine.logprobs,
        **(engine.generation_kwargs or {}),
    }
    requests = [
        {
            "prompt_token_ids": ids,
            "multi_modal_data": {"video": (sampled.frames, _metadata_dict(sampled.metadata))},
            "mm_processor_kwargs": {"do_sample_frames": False, "do_resize": False},
        }
        for ids, sampled in zip(prompt_ids, prepared.frames, strict=True)
    ]
    if engine.enable_sleep_mode:
        engine.llm.wake_up(tags=["kv_cache"])
    outputs = engine.llm.generate(requests, sampling_params=SamplingParams(**params), use_tqdm=False)
    if engine.enable_sleep_mode:
        engine.llm.sleep(level=2)
        engine._llm_weights_sleeping = True
    completion_ids = [list(output.token_ids) for request in outputs for output in request.outputs]
    logprobs, _ = extract_logprobs(outputs)
    if logprobs is not None:
        logprobs = [[token[0] for token in sequence] for sequence in logprobs]  # the sampled token's log-prob
    return completion_ids, logprobs
