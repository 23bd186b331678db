"""Load any Hugging Face video MLLM (or text LLM) and its processor by hub id or local path.

Before anything is loaded, :func:`model_source` says where the weights come from, so that the common mistakes end
at once with one line: a path that does not exist (no hub retries for ``runs/typo``), a folder that holds no model,
a hub id while the hub cannot be reached (a cached copy is used if there is one), ``--device cuda`` without CUDA.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from owlcap.errors import ConfigError, ModelLoadError

logger = logging.getLogger(__name__)


class ModelOptions(BaseModel):
    """How to load a model. The defaults pick bf16 + the fastest attention on GPU and fp32 + sdpa on CPU."""

    model_config = ConfigDict(extra="forbid")

    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Weights dtype; auto = bfloat16 on a GPU that supports it, float32 on CPU."
    )
    device: str = Field("auto", description="'auto' (cuda if available, else cpu), 'cpu', 'cuda', 'cuda:1'...")
    attn_implementation: Literal["auto", "sdpa", "flash_attention_2", "eager"] = Field(
        "auto", description="Attention kernel; auto = flash_attention_2 when installed on GPU, else sdpa."
    )
    trust_remote_code: bool = Field(False, description="Allow model code from the checkpoint (needed by some hubs).")


def resolve_device(device: str) -> str:
    """``auto`` -> cuda or cpu; a device this machine does not have is a ``ConfigError`` saying what it has."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"device {device!r}: not a device name (use auto, cpu, cuda or cuda:N)") from exc
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {device!r}: no CUDA GPU is available on this machine; use --device cpu or auto")
        if parsed.index is not None and parsed.index >= count:
            raise ConfigError(f"device {device!r}: this machine has {count} CUDA GPU(s) (cuda:0..cuda:{count - 1})")
    return device


def looks_like_path(name_or_path: str) -> bool:
    """True when a model name can only mean a local folder: ``./x``, ``/x``, ``~/x``, ``a/b/c``, ``x/``, or
    ``a/b`` whose ``a`` is a local folder (``runs/typo``). Hub ids are ``name`` or ``org/name``."""
    if name_or_path.startswith(("/", "./", "../", "~", ".\\")) or "\\" in name_or_path or name_or_path.endswith("/"):
        return True
    parts = name_or_path.split("/")
    return len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).is_dir())


def model_source(name_or_path: str) -> bool:
    """Check that the model can be found before loading it; returns ``local_files_only`` for ``from_pretrained``.

    A local folder must hold ``config.json``; a path-like name that does not exist is an error at once; a hub id
    while the hub cannot be reached loads the cached copy, or fails at once naming the cause (instead of half a
    minute of retries and three chained tracebacks). Raises ``ModelLoadError``.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{name_or_path}: the folder holds no config.json, so no saved model (a training run writes its "
                "model in output_dir when it finishes; a LoRA adapter folder is not a whole model)"
            )
        return False
    if path.exists():
        raise ModelLoadError(f"{name_or_path}: is a file; give the model's folder (the one holding config.json)")
    if looks_like_path(name_or_path):
        raise ModelLoadError(f"{name_or_path}: no such folder (hub models are named like Qwen/Qwen2.5-VL-7B-Instruct)")
    return _hub_source(name_or_path)


def _hub_source(repo_id: str) -> bool:
    from huggingface_hub import constants, try_to_load_from_cache

    cached = isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    if constants.HF_HUB_OFFLINE:
        if not cached:
            raise ModelLoadError(
                f"{repo_id}: not a local folder, and not in the Hugging Face cache while HF_HUB_OFFLINE is set; "
                "download it first or pass a local model folder"
            )
        return True
    problem = _hub_unreachable(constants.ENDPOINT)
    if problem is None:
        return False
    if cached:
        logger.warning("the Hugging Face hub (%s) cannot be reached (%s): using the cached %s", constants.ENDPOINT,
                       problem, repo_id)  # fmt: skip
        return True
    raise ModelLoadError(
        f"{repo_id}: not a local folder, and the Hugging Face hub ({constants.ENDPOINT}) cannot be reached to "
        f"download it ({problem}); check the network, or pass a local model folder"
    )


def _hub_unreachable(endpoint: str, timeout_s: float = 5.0) -> str | None:
    """``None`` when the hub answers at all (any HTTP status), else the connection problem, in a few words."""
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))
    return None


def model_load_error(name_or_path: str, exc: Exception) -> ModelLoadError:
    """One line for a ``from_pretrained`` failure: not on the hub, gated, or the library's own first line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    causes = set()
    current: BaseException | None = exc
    while current is not None:
        causes.add(type(current).__name__)
        current = current.__cause__ or current.__context__
    if "RepositoryNotFoundError" in causes or "is not a valid model identifier" in text:
        text = "not a local folder, and no such model on the Hugging Face hub (private models need HF_TOKEN)"
    elif "GatedRepoError" in causes:
        text = "a gated model on the hub: accept its licence on huggingface.co and set HF_TOKEN"
    return ModelLoadError(f"{name_or_path}: cannot load the model or its processor ({text})")


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, dtype)


def resolve_attention(attn: str, device: str) -> str:
    if attn != "auto":
        return attn
    if device.startswith("cuda"):
        try:
            import flash_attn  # noqa: F401
        except ImportError:
            return "sdpa"
        return "flash_attention_2"
    return "sdpa"


def is_multimodal_config(config) -> bool:
    """True when the checkpoint is an image/video-text-to-text model (has a vision tower)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def load_model_and_processor(name_or_path: str, options: ModelOptions | None = None):
    """Return ``(model, processor_or_tokenizer, multimodal)`` in eval mode on the chosen device."""
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        AutoProcessor,
        AutoTokenizer,
    )

    options = options or ModelOptions()
    device = resolve_device(options.device)
    local_only = model_source(name_or_path)
    common = {"trust_remote_code": options.trust_remote_code, "local_files_only": local_only}
    kwargs = {
        "dtype": resolve_dtype(options.dtype, device),
        "attn_implementation": resolve_attention(options.attn_implementation, device),
        **common,
    }
    try:
        config = AutoConfig.from_pretrained(name_or_path, **common)
        multimodal = is_multimodal_config(config)
        if multimodal:
            model = AutoModelForImageTextToText.from_pretrained(name_or_path, **kwargs)
            processor = AutoProcessor.from_pretrained(name_or_path, **common)
        else:
            model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
            processor = AutoTokenizer.from_pretrained(name_or_path, **common)
    except (OSError, ValueError, KeyError) as exc:
        raise model_load_error(name_or_path, exc) from exc
    model.to(device).eval()
    logger.info(
        "loaded %s (%s, %s, %s attention) on %s",
        name_or_path,
        type(model).__name__,
        kwargs["dtype"],
        kwargs["attn_implementation"],
        device,
    )
    return model, processor, multimodal
