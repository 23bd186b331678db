"""``VideoGRPOTrainer``: TRL's ``GRPOTrainer`` (pinned 1.16.0) taught to train on video prompts.

Stock TRL 1.16 accepts video prompts but builds the loss forward without the video (only image tensors are rebuilt),
so the policy is trained on text with holes in it and the vision tower never gets a gradient. Each override below
exists for one named reason and has a test in ``tests/train/test_grpo_trainer.py``:

``__init__``
    suppresses every vision special token in generation (TRL suppresses only the image pad; a sampled
    ``<|video_pad|>`` would mismatch the video features) and checks the TRL pin.
``_generate_and_score_completions``
    decodes each distinct video of the generation batch once, makes the rows' videos visible to the methods below
    for the duration of the call, and attaches them (one shared object per video) to the buffered batch so TRL's
    shuffle/split carries them to ``compute_loss``. It first hands the rows to ``prefetch`` (if given), so a judge
    can split the reference captions while the completions are being generated.
``_tokenize_prompts``
    prompt ids come from the processor with the video placeholders expanded (TRL would tokenize without frames).
``_generate_single_turn``
    generation encodes each distinct video once, not once per completion.
``_get_per_token_logps_and_entropies``
    every log-prob forward (policy, old policy, reference) gets the video: the vision tower runs once per distinct
    video per pass and its features are shared by the G rows, with gradients flowing back through the sharing.
``compute_loss``
    makes the current micro-batch's videos visible to the policy forward; with ``kl_log_ratio_clamp`` it also
    hands that forward the micro-batch's reference log-probs to clamp (see :func:`clamp_kl_reference`).
``_load_from_checkpoint`` (``CheckpointWeightsMixin``, shared with SFT)
    resume restores the trained weights: transformers 5.20 saves Qwen-VL checkpoints in legacy keys that
    ``Trainer`` cannot load back, so a resumed run would silently restart from the base weights.
``_get_train_sampler``, ``_run_epoch``, ``_save_rng_state``, ``_load_rng_state``
    a resumed run equals the uninterrupted one: each epoch's data order, and the generation buffer of a checkpoint
    taken inside a generation cycle, are restored with the checkpoint (``owlcap.train.grpo_resume``; TRL 1.16
    restores neither).
``_calculate_rewards``
    a completion with *any* ``None`` reward (a judge failure) or an undecodable video becomes unscorable: TRL would
    ``nansum`` the remaining rewards, i.e. score the failed judge as 0. Also logs failures per reward function, and
    each completion's video id (the ``id`` column) in the completions table.

What it reduces to: GRPO exactly as TRL computes it (advantages, loss variants, KL, clipping are TRL's), with the
video present in every forward; optionally the released OwlCap trainer's KL log-ratio clamp.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from typing import Any

import torch
import trl
from trl import GRPOTrainer

from owlcap.errors import ConfigError
from owlcap.models import vision_token_ids
from owlcap.train.checkpoints import CheckpointWeightsMixin
from owlcap.train.grpo_inputs import PreparedBatch, VideoPromptBuilder
from owlcap.train.grpo_resume import ResumableRepeatSampler, load_generation_state, save_generation_state
from owlcap.train.shared_video import (
    VideoPlan,
    encode_videos,
    forward_kwargs,
    shared_video_features,
    slice_features,
    video_token_types,
)

logger = logging.getLogger(__name__)

TRL_VERSION = "1.16.0"  # the overrides below follow this version's GRPOTrainer internals


class VideoGRPOTrainer(CheckpointWeightsMixin, GRPOTrainer):
    """GRPO on video prompts. Dataset rows: ``prompt`` (text), ``video`` (path), optional ``system``, reward columns.

    Args beyond ``GRPOTrainer``'s:
        video_sampler: an ``owlcap.video.SamplingConfig`` (anything with ``.sample(path) -> SampledVideo``); the
            same frame sampling as SFT, captioning and evaluation.
        share_video_encoding: encode each distinct video once per forward pass (default). ``False`` encodes it
            once per completion, as per-row pixel values would; kept for the benchmark and for comparison.
        decode_workers: threads decoding the distinct videos of a generation batch.
        prefetch: called with the generation batch's rows before generation starts; must not block (the recipe
            starts CSER's reference decomposition in the background with it).
        prompt_order: ``video_first`` (default) or ``text_first`` (the released OwlCap GRPO prompt) in the user turn.
        kl_log_ratio_clamp: clamp the KL term's log-ratio log(ref/policy) to [-c, c] (the released trainer: 10);
            ``None`` leaves TRL's KL as it is.
    """

    def __init__(
        self,
        model,
        reward_funcs,
        args,
        train_dataset,
        *,
        processing_class,
        video_sampler,
        share_video_encoding: bool = True,
        decode_workers: int = 2,
        prefetch: Callable[[list[dict[str, Any]]], Any] | None = None,
        prompt_order: str = "video_first",
        kl_log_ratio_clamp: float | None = None,
        **kwargs: Any,
    ):
        if trl.__version__ != TRL_VERSION:
            raise RuntimeError(
                f"VideoGRPOTrainer overrides TRL {TRL_VERSION} internals but TRL {trl.__version__} is installed; "
                f"install trl=={TRL_VERSION} (pinned in pyproject.toml)"
            )
        if args.use_vllm and args.vllm_mode != "colocate":
            raise ConfigError(
                "use_vllm with video needs vllm_mode: colocate (TRL 1.16's vLLM server client sends images only)"
            )
        super().__init__(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=train_dataset,
            processing_class=processing_class,
            **kwargs,
        )
        if not self._is_vlm:
            raise ConfigError("VideoGRPOTrainer needs a multimodal processor (AutoProcessor), not a tokenizer")
        self.video_prompts = VideoPromptBuilder(
            processing_class, video_sampler, decode_workers=decode_workers, prompt_order=prompt_order
        )
        self.share_video_encoding = share_video_encoding
        self.prefetch = prefetch
        self.kl_log_ratio_clamp = kl_log_ratio_clamp
        self._loss_inputs: dict[str, Any] | None = None  # the micro-batch whose reference log-probs get clamped
        self.video_token_id = int(self.model.config.video_token_id)
        self._prepared: PreparedBatch | None = None  # the current generation batch, while it is being scored
        self._video_plan: VideoPlan | None = None  # the rows' videos of the forward pass being run
        self._suppress_vision_tokens()

    def _suppress_vision_tokens(self) -> None:
        ids = vision_token_ids(self._tokenizer)
        if self.use_vllm:
            # vLLM sampling has no suppress_tokens; a large negative logit bias does the same.
            self.vllm_generation.generation_kwargs = {
                **(self.vllm_generation.generation_kwargs or {}),
                "logit_bias": {token: -100.0 for token in ids},
            }
            return
        suppressed = sorted(set(self.generation_config.suppress_tokens or []) | set(ids))
        self.generation_config.suppress_tokens = suppressed
        self.generation_kwargs["suppress_tokens"] = suppressed

    # -- resume equality -------------------------------------------------------------------------------------------

    def _get_train_sampler(self, dataset=None):
        self._train_sampler = ResumableRepeatSampler.like(super()._get_train_sampler(dataset))
        return self._train_sampler

    def _run_epoch(self, model, epoch, *args, **kwargs):
        sampler = getattr(self, "_train_sampler", None)
        if sampler is not None:  # before the epoch's data loader is iterated (accelerate may not forward set_epoch)
            sampler.set_epoch(epoch)
        return super()._run_epoch(model, epoch, *args, **kwargs)

    def _save_rng_state(self, output_dir):
        super()._save_rng_state(output_dir)
        save_generation_state(self, output_dir)

    def _load_rng_state(self, checkpoint):
        super()._load_rng_state(checkpoint)
        if checkpoint is not None:
            load_generation_state(self, checkpoint)

    # -- generation batch ------------------------------------------------------------------------------------------

    def _generate_and_score_completions(self, inputs):
        if self.prefetch is not None:
            self.prefetch(inputs)
        if not inputs or "video" not in inputs[0]:
            return super()._generate_and_score_completions(inputs)
        prepared = self.video_prompts.build(inputs, device=self.accelerator.device)
        self._prepared = prepared
        self._video_plan = VideoPlan.from_rows(prepared.videos)
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            self._prepared = None
            self._video_plan = None
        output["videos"] = prepared.videos
        mode = "train" if self.model.training else "eval"
        failed = self.accelerator.gather(torch.tensor([len(prepared.failures)], device=self.accelerator.device))
        self._metrics[mode]["video/decode_failures"].append(float(failed.sum().item()))
        return output

    def _tokenize_prompts(self, prompts: list):
        if self._prepared is None:
            return super()._tokenize_prompts(prompts)
        plan = self._video_plan
        shared = self.share_video_encoding
        fields: dict[str, Any] = {
            # Distinct videos only when shared (the scope in _generate_single_turn expands them to rows).
            "pixel_values_videos": plan.pixel_values(shared=shared),
            # Per row: M-RoPE positions of every row need its grid, shared or not.
            "video_grid_thw": plan.grid_thw(shared=False),
            # A per-token list of lists: TRL left-pads it like the prompt ids.
            "mm_token_type_ids": [
                video_token_types(torch.tensor(ids), self.video_token_id).tolist() for ids in self._prepared.prompt_ids
            ],
        }
        seconds = plan.row_seconds()
        if seconds is not None:
            fields["second_per_grid_ts"] = seconds
        return self._prepared.prompt_ids, None, fields

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        plan = self._video_plan
        if plan is None:
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )
        if self.use_vllm:
            from owlcap.train.grpo_vllm import generate_with_videos

            return generate_with_videos(self, prompt_ids, self._prepared, plan, num_generations)
        scope = shared_video_features(self.model, plan.index) if self.share_video_encoding else contextlib.nullcontext()
        with scope:
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )

    # -- forward passes --------------------------------------------------------------------------------------------

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        compute_aux_loss=False,
        **multimodal,
    ):
        plan = self._video_plan
        if plan is None:
            outputs = super()._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                batch_size=batch_size,
                compute_entropy=compute_entropy,
                compute_aux_loss=compute_aux_loss,
                **multimodal,
            )
        else:
            outputs = self._video_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss, plan
            )
        self._clamp_loss_reference(outputs[0])
        return outputs

    def _video_logps_and_entropies(
        self, model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss, plan
    ):
        if len(plan) != input_ids.size(0):
            raise RuntimeError(
                f"{len(plan)} row videos for {input_ids.size(0)} rows: the batch and its videos diverged"
            )
        with self.accelerator.autocast():
            features = encode_videos(model, plan, shared=self.share_video_encoding)  # once for the whole pass
        batch_size = batch_size or input_ids.size(0)
        logps, entropies, aux_losses = [], [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = min(start + batch_size, input_ids.size(0))
            ids, mask = input_ids[start:end], attention_mask[start:end]
            kwargs = forward_kwargs(
                slice_features(features, start, end), plan.slice(start, end), ids, self.video_token_id
            )
            if compute_aux_loss:
                kwargs["output_router_logits"] = True
            labels = ids.masked_fill(mask == 0, -100)  # score only the completion tokens
            labels[:, :-logits_to_keep] = -100
            with self.accelerator.autocast():
                outputs = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True, **kwargs)
            logps.append(outputs.log_probs[:, -logits_to_keep:])
            if compute_entropy:
                entropies.append(outputs.entropy[:, -logits_to_keep:])
            if compute_aux_loss:
                aux_losses.append(outputs.aux_loss)
        return (
            torch.cat(logps),
            torch.cat(entropies) if compute_entropy else None,
            torch.stack(aux_losses).mean() if compute_aux_loss else None,
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        videos = inputs.get("videos")
        if self.kl_log_ratio_clamp is not None and inputs.get("ref_per_token_logps") is not None:
            inputs = dict(inputs)  # a copy: the clamp rewrites this micro-batch's reference log-probs only
            self._loss_inputs = inputs
        self._video_plan = VideoPlan.from_rows(videos) if videos is not None else None
        try:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            self._video_plan = None
            self._loss_inputs = None

    def _clamp_loss_reference(self, per_token_logps: torch.Tensor) -> None:
        """In the loss forward (once per micro-batch): clamp the KL log-ratio against these policy log-probs."""
        inputs, self._loss_inputs = self._loss_inputs, None
        if inputs is not None:
            inputs["ref_per_token_logps"] = clamp_kl_reference(
                inputs["ref_per_token_logps"], per_token_logps, self.kl_log_ratio_clamp
            )

    # -- rewards ---------------------------------------------------------------------------------------------------

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        self._log_completion_extra("video_id", [str(row.get("id", "")) for row in inputs])  # completions table
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)  # gathered
        mode = "train" if self.model.training else "eval"
        failed_video = torch.zeros(len(prompts), dtype=torch.bool, device=rewards.device)
        if self._prepared is not None and self._prepared.failed_rows:
            failed_video[self._prepared.failed_rows] = True
        failed_video = self.accelerator.gather(failed_video)
        missing = torch.isnan(rewards)
        for i, name in enumerate(self.reward_func_names):
            # Judge failures of this function on decodable videos, as a share of the batch's completions.
            share = (missing[:, i] & ~failed_video).float().mean().item()
            self._metrics[mode][f"rewards/{name}/failed_share"].append(share)
        unscorable = missing.any(dim=1) | failed_video
        if unscorable.any():
            rewards = rewards.clone()
            rewards[unscorable] = math.nan
        self._metrics[mode]["rewards/unscorable_share"].append(unscorable.float().mean().item())
        return rewards


def clamp_kl_reference(ref_logps: torch.Tensor, policy_logps: torch.Tensor, bound: float) -> torch.Tensor:
    """Reference log-probs rewritten so that TRL's KL term ``exp(r - p) - (r - p) - 1`` computes the released OwlCap
    trainer's ``x = clamp(r - p, -bound, bound)``; ``exp(x) - x - 1`` in value and in gradient.

    Where ``r - p`` lies inside the bound the reference is unchanged. Where it lies outside, the reference becomes
    ``p ± bound`` built from the live policy log-probs, so ``r - p`` is exactly ``±bound`` with zero gradient, as a
    clamp gives. This leaves TRL's loss code untouched (no copy of it to keep in step).
    """
    gap = ref_logps - policy_logps.detach()
    above, below = gap > bound, gap < -bound
    return torch.where(above, policy_logps + bound, torch.where(below, policy_logps - bound, ref_logps))
