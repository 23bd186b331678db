"""Video in chat messages: owlcap's ``{"type": "video", ...}`` part turned into what a server accepts.

owlcap messages carry a ``SampledVideo`` from ``owlcap.video.sample_frames`` (frames chosen by the one sampling
function used everywhere). For an OpenAI-compatible server that becomes one ``image_url`` part per frame holding a
base64 JPEG ``data:`` URL, which vLLM, SGLang and OpenAI all accept, preceded by a text part with the frame
timestamps (so the model still knows the timing). ``video_transport="video_url"`` sends the encoded file instead,
as vLLM's ``video_url`` part.
"""

from __future__ import annotations

import base64
import hashlib
import io
import mimetypes
from pathlib import Path
from typing import Any

from owlcap.errors import ConfigError
from owlcap.llm.task import Message


def frame_data_url(frame: Any, quality: int) -> str:
    """A ``data:image/jpeg;base64,...`` URL of one uint8 (H, W, 3) frame."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def frame_data_urls(video: Any, quality: int) -> list[str]:
    """The JPEG ``data:`` URLs of a sampled video's frames, encoded once per video and quality and kept on the video
    object, so the several requests that send one video (MDF, FGE) pay for the encoding once. The data engine calls
    it in its decode threads, off the event loop."""
    memo = getattr(video, "__dict__", None)
    cache = memo.setdefault("_owlcap_jpeg_urls", {}) if memo is not None else {}
    urls = cache.get(quality)
    if urls is None:
        urls = cache[quality] = [frame_data_url(frame, quality) for frame in video.frames]
    return urls


def video_fingerprint(video: Any) -> str:
    """A digest of a sampled video's frames and timestamps, for cache keys when no better video key is given."""
    digest = hashlib.sha256()
    frames = getattr(video, "frames", None)
    if frames is not None:
        digest.update(str(getattr(frames, "shape", "")).encode())
        digest.update(frames.tobytes())
    digest.update(repr(list(getattr(video, "timestamps", []) or [])).encode())
    return digest.hexdigest()


def _timestamps_text(video: Any) -> str:
    stamps = list(getattr(video, "timestamps", []) or [])
    if not stamps:
        return f"The next {len(video.frames)} images are frames of one video, in order."
    listed = ", ".join(f"{float(t):.1f}s" for t in stamps)
    return f"The next {len(stamps)} images are frames of one video, in order, taken at {listed}."


def video_parts(part: dict[str, Any], *, transport: str, quality: int) -> list[dict[str, Any]]:
    """OpenAI content parts for one owlcap video part."""
    video = part.get("video")
    if transport == "video_url":
        path = part.get("path") or getattr(video, "path", None)
        if not path:
            raise ConfigError("video_transport='video_url' needs the video's file path in the message part ('path')")
        url = str(path)
        if not url.startswith(("http://", "https://", "data:")):
            file = Path(url)
            mime = mimetypes.guess_type(file.name)[0] or "video/mp4"
            url = f"data:{mime};base64," + base64.b64encode(file.read_bytes()).decode("ascii")
        return [{"type": "video_url", "video_url": {"url": url}}]
    if video is None or getattr(video, "frames", None) is None:
        raise ConfigError("a video message part needs 'video': a SampledVideo from owlcap.video.sample_frames")
    parts: list[dict[str, Any]] = [{"type": "text", "text": _timestamps_text(video)}]
    for url in frame_data_urls(video, quality):
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def to_openai_messages(messages: list[Message], *, transport: str, quality: int) -> list[dict[str, Any]]:
    """Copy ``messages`` with every owlcap video part expanded; other parts pass through unchanged."""
    converted = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            converted.append(message)
            continue
        parts: list[dict[str, Any]] = []
        for part in content:
            if part.get("type") == "video":
                parts.extend(video_parts(part, transport=transport, quality=quality))
            else:
                parts.append(part)
        converted.append({**message, "content": parts})
    return converted


def has_video(messages: list[Message]) -> bool:
    return any(
        isinstance(m.get("content"), list) and any(p.get("type") == "video" for p in m["content"]) for m in messages
    )
