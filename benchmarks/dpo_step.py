"""Video DPO step time with each pair's video encoded once (shared by its chosen and rejected rows) vs once per row.

    OMP_NUM_THREADS=1 python benchmarks/dpo_step.py          # CPU: tiny LM, heavy vision tower (about 2 minutes)
    python benchmarks/dpo_step.py --gpu                     # GPU: Qwen2.5-VL-7B architecture, random weights, bf16

Both modes run the same ``VideoDPOTrainer`` steps on the same weights, pairs and videos (the HMD samples); only
``share_video_encoding`` differs. ``per-row`` is what TRL's own vision path costs (its collator repeats each pair's
pixels for the chosen and the rejected row): the vision tower sees every clip twice per forward. Each step is a full
DPO step: the policy forward over the chosen and rejected rows, the loss, backward, optimizer step; the reference
log-probs are precomputed once before training (the recipe's default), or, with ``--reference live``, computed by a
reference forward every step (which encodes the clips again).

CPU setting: the random tiny Qwen2.5-VL's language model (hidden 64, 2 layers) with the heavy vision tower of
``grpo_step.py`` (7.7 M parameters against the LM's 0.24 M), so the effect shows on a CPU (this overstates the vision
share of a 7B step; the GPU setting measures that); 8 frames per video of at most 224x224 pixels (240 video tokens
per clip), 2 pairs per step, each on its own video, captions of about 120 tokens. The GPU setting is the real
proportion: Qwen2.5-VL-7B's architecture with random weights in bf16, 1 pair per step, 16 frames within the paper's
3584*28*28 pixels, ~300-token captions, gradient checkpointing and plain SGD, so that full training fits one 80 GB
GPU.

Step time is the median over ``--steps`` steps after ``--warmup``, as wall time and as this process's CPU time
(which other jobs on a shared machine move less); the vision share is the vision tower's forward and backward time
(``grpo_step.VisionTimer``) over the step time. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from grpo_step import VisionTimer, build_model, clock_steps, count  # noqa: E402 - the GRPO benchmark's models, clocks


def pair_rows(videos: list[Path], pairs: int, words: int) -> list[dict]:
    """``pairs`` pairs, each on its own video: the video's reference caption against another video's, cut to
    ``words`` words."""
    from owlcap import envs

    captions = [json.loads(line) for line in (envs.samples_dir() / "hmd" / "captions.jsonl").read_text().splitlines()]
    text = {Path(c["video"]).stem: " ".join(c["caption"].split()[:words]) for c in captions}
    rows = []
    for index in range(pairs):
        video = videos[index % len(videos)]
        other = videos[(index + 1) % len(videos)]
        rows.append({"id": f"pair{index}", "video": str(video), "start": None, "end": None, "prompt": None,
                     "system": None, "chosen": text[video.stem], "rejected": text[other.stem]})  # fmt: skip
    return rows


def run_mode(args, base_dir: Path, videos: list[Path], share: bool, device: str) -> dict:
    from datasets import Dataset
    from transformers import AutoProcessor
    from trl import DPOConfig

    from owlcap.train.callbacks import quiet_console
    from owlcap.train.dpo_data import VideoPreferenceCollator
    from owlcap.train.dpo_trainer import VideoDPOTrainer
    from owlcap.video import PAPER_TOTAL_PIXELS, SamplingConfig

    gpu = args.gpu
    model = build_model(base_dir, gpu, device)
    processor = AutoProcessor.from_pretrained(base_dir)
    sampling = (
        SamplingConfig(nframes=args.frames, total_pixels=PAPER_TOTAL_PIXELS, max_pixels=PAPER_TOTAL_PIXELS, factor=28)
        if gpu
        else SamplingConfig(nframes=args.frames, min_pixels=224 * 224, max_pixels=224 * 224, factor=28)
    )
    rows = pair_rows(videos, args.pairs, args.words)
    collator = VideoPreferenceCollator(processor, sampling, share_video_encoding=share)
    config = DPOConfig(
        output_dir=str(base_dir / ("shared" if share else "per-row")), per_device_train_batch_size=args.pairs,
        max_steps=args.warmup + args.steps, learning_rate=1e-6, beta=0.1, bf16=gpu, use_cpu=not gpu, report_to=[],
        save_strategy="no", logging_steps=1, gradient_checkpointing=gpu, optim="sgd" if gpu else "adamw_torch",
        seed=0, disable_tqdm=True, remove_unused_columns=False, max_length=None, ddp_find_unused_parameters=False,
        precompute_ref_log_probs=args.reference == "precomputed",
        train_sampling_strategy="sequential",  # every step the same pairs: each on its own video, none repeated
    )  # fmt: skip
    dataset = Dataset.from_list(rows * (args.warmup + args.steps))  # in order: every step holds all the pairs
    trainer = VideoDPOTrainer(
        model=model, args=config, data_collator=collator, train_dataset=dataset, processing_class=processor,
        data_counters=collator.counters,
    )  # fmt: skip
    quiet_console(trainer)
    timer = VisionTimer(trainer.model.model.visual, sync=gpu)
    if trainer.ref_model is not None:  # the live reference forward's vision time counts too
        timer.watch(trainer.ref_model.model.visual)
    steps = clock_steps(trainer, timer, sync=gpu)
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    measured = steps[args.warmup :]
    batch = collator(rows[:1])
    result = {
        "step_s": statistics.median(s["s"] for s in measured),
        "step_cpu_s": statistics.median(s["cpu_s"] for s in measured),
        "vision_share": statistics.median(s["vision_s"] / s["s"] for s in measured),
        "videos_encoded_per_step": statistics.median(s["videos"] for s in measured),
        "vision_tokens_per_video": int(batch["video_grid_thw"][0].prod()) // 4,
        "caption_tokens": int(batch["completion_mask"].sum(dim=1).float().mean()),
        "params": {"vision": count(trainer.model.model.visual), "total": count(trainer.model)},
    }
    if gpu:
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    del trainer, model
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu", action="store_true", help="Qwen2.5-VL-7B architecture on CUDA, bf16, 16 frames")
    parser.add_argument("--steps", type=int, default=5, help="measured steps per mode")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured steps first")
    parser.add_argument("--pairs", type=int, default=None, help="pairs per step, each on its own video (2 CPU, 1 GPU)")
    parser.add_argument("--frames", type=int, default=None, help="frames per video (default 8 on CPU, 16 on GPU)")
    parser.add_argument("--words", type=int, default=None, help="words per caption (default 90 CPU, 230 GPU)")
    parser.add_argument(
        "--reference", choices=("precomputed", "live"), default="precomputed",
        help="reference log-probs computed once before training (default) or by a reference forward every step",
    )  # fmt: skip
    args = parser.parse_args()
    defaults = {"pairs": 1, "frames": 16, "words": 230} if args.gpu else {"pairs": 2, "frames": 8, "words": 90}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.gpu and not torch.cuda.is_available():
        sys.exit("--gpu needs a CUDA device")
    device = "cuda" if args.gpu else "cpu"

    from owlcap import envs
    from owlcap.models import build_tiny_model

    videos = sorted((envs.samples_dir() / "hmd" / "videos").glob("*.mp4"))
    with tempfile.TemporaryDirectory() as tmp:
        base = build_tiny_model(Path(tmp) / "base", "qwen2_5_vl")
        # TRL computes the reference from the policy's path (a live reference model is loaded from it): give the
        # path the same random weights the policy gets
        build_model(base, args.gpu, "cpu").save_pretrained(base)
        modes = {name: run_mode(args, base, videos, share, device) for name, share in
                 (("shared", True), ("per-row", False))}  # fmt: skip
    _report(args, modes, device)


def _report(args, modes: dict, device: str) -> None:
    shared, per = modes["shared"], modes["per-row"]
    print(f"{'':26}{'shared':>12}{'per-row':>12}")
    print(f"{'step time (median, s)':26}{shared['step_s']:>12.3f}{per['step_s']:>12.3f}")
    print(f"{'step CPU time (median, s)':26}{shared['step_cpu_s']:>12.3f}{per['step_cpu_s']:>12.3f}")
    print(f"{'vision share of step':26}{shared['vision_share']:>12.1%}{per['vision_share']:>12.1%}")
    print(
        f"{'videos encoded / step':26}{shared['videos_encoded_per_step']:>12.0f}{per['videos_encoded_per_step']:>12.0f}"
    )
    if "peak_memory_gib" in shared:
        print(f"{'peak memory (GiB)':26}{shared['peak_memory_gib']:>12.1f}{per['peak_memory_gib']:>12.1f}")
    headline = {
        "benchmark": "dpo_step",
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "arch": "qwen2_5_vl_7b (random weights, bf16)" if args.gpu else "tiny LM + heavy vision tower",
        "pairs_per_step": args.pairs, "frames": args.frames, "reference": args.reference,
        "vision_tokens_per_video": shared["vision_tokens_per_video"], "caption_tokens": shared["caption_tokens"],
        "steps": args.steps,
        "videos_encoded_shared": shared["videos_encoded_per_step"],
        "videos_encoded_per_row": per["videos_encoded_per_step"],
        "step_s_shared": round(shared["step_s"], 4), "step_s_per_row": round(per["step_s"], 4),
        "speedup": round(per["step_s"] / shared["step_s"], 3),
        "step_cpu_s_shared": round(shared["step_cpu_s"], 4), "step_cpu_s_per_row": round(per["step_cpu_s"], 4),
        "cpu_speedup": round(per["step_cpu_s"] / shared["step_cpu_s"], 3),
        "vision_share_shared": round(shared["vision_share"], 3),
        "vision_share_per_row": round(per["vision_share"], 3),
        "params_vision": shared["params"]["vision"], "params_total": shared["params"]["total"],
    }  # fmt: skip
    if "peak_memory_gib" in shared:
        headline |= {"peak_gib_shared": round(shared["peak_memory_gib"], 2),
                     "peak_gib_per_row": round(per["peak_memory_gib"], 2)}  # fmt: skip
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
