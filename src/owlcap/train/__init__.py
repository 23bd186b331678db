"""owlcap.train: SFT and GRPO of video MLLMs on TRL + accelerate/DeepSpeed.

Shared by both recipes: ``data`` (datasets, decoding, the video collator, label masking), ``modeling`` (loading for
training, full/LoRA, freezing, parameter counts), ``run_config`` (the run-config fields and checks both share),
``checkpoints`` (which checkpoint to resume from, and resuming with the model weights) and ``saving`` (the final
model, LoRA merge). ``sft`` is the supervised recipe, ``grpo`` the reinforcement one. Import the submodules
directly; nothing heavy is imported here.
"""
