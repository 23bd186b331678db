"""``owlcap eval fetch BENCHMARK --out DIR [--videos]``: a benchmark's official files, from its Hugging Face dataset
repository, laid out as its evaluator reads them.

Each benchmark declares what to fetch in its own folder (``owlcap/eval/<benchmark>/fetch.py`` holding ``SPEC``, a
:class:`FetchSpec`: the repository, its annotation files and where each goes, its video archives, and the counts the
official files have); this module is the one engine that fetches any of them, and :func:`benchmarks` finds every
folder that has a spec, so a new benchmark plugs in by adding its own ``fetch.py``.

What the engine guarantees:

* everything lands in ``DIR/<benchmark>/``: the annotation files under the names the evaluator reads, the videos
  flat in ``videos/`` as ``<id>.<ext>``, and ``fetch.json``, the record of what was fetched from which commit;
* one commit: the revision (``main`` unless ``--revision`` pins a branch, tag or commit) is resolved once and every
  file comes from that commit, also across interrupted runs;
* resumable: downloads go through ``huggingface_hub`` into ``DIR/<benchmark>/.hub/``, whose partial files resume
  where they stopped; a laid-out file counts as done only once ``fetch.json`` records it with its sha256 and the file
  still has it, so a half-written file is never taken as complete, and a re-run of a finished fetch reads no network;
* checked: the evaluator's own loader reads the laid-out files and the counts are compared with the official
  ones; every difference is reported (and makes the command exit 1), never silently accepted;
* one-line errors (``DownloadError``) for no network, an unknown repository, revision or file, a gated repository,
  and a full disk (checked against the repository's file sizes before anything is downloaded, and on write).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import logging
import os
import pkgutil
import re
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from owlcap.errors import ConfigError, DataError, DownloadError
from owlcap.hashing import file_digest
from owlcap.jsonl import write_text_atomic
from owlcap.locks import lock_folder, unlock
from owlcap.progress import progress_bar

logger = logging.getLogger(__name__)

MANIFEST = "fetch.json"
HUB_FOLDER = ".hub"
VIDEOS_FOLDER = "videos"
_VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


@dataclass(frozen=True)
class HubFile:
    """One annotation file: ``path`` in the repository, ``target`` under ``DIR/<benchmark>/``; ``convert(src, dst)``
    writes the target from the downloaded file when the hub's layout is not the evaluator's (default: a copy)."""

    path: str
    target: str
    convert: Callable[[Path, Path], None] | None = None


@dataclass(frozen=True)
class FetchSpec:
    """What one benchmark fetches and how its files are checked.

    ``counts(folder)`` reads the laid-out annotations with the evaluator's own loader and returns named counts;
    ``expected`` holds the official files' values of those counts. ``video_ids(folder)`` names the videos the
    annotations need (each expected as ``videos/<id>.<ext>``). ``archives`` are the repository's video archives
    (``.zip``, ``.tar``, ``.tar.gz``): their video files are extracted flat into ``videos/`` and the archive is then
    deleted. ``notes`` says how the hub's files differ from the ones the official scorer reads; ``usage`` is the
    command that evaluates on the result (``{folder}`` is replaced)."""

    benchmark: str
    repo_id: str
    files: tuple[HubFile, ...]
    counts: Callable[[Path], dict[str, int]]
    expected: dict[str, int]
    video_ids: Callable[[Path], set[str]]
    archives: tuple[str, ...] = ()
    notes: str = ""
    usage: str = ""


@dataclass
class FetchResult:
    """What a fetch did and found; ``differences`` lists every count that is not the official one."""

    benchmark: str
    folder: Path
    repo_id: str
    commit: str
    downloaded: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    videos_missing: list[str] | None = None  # None: videos not fetched

    @property
    def differences(self) -> list[str]:
        found = [
            f"{name}: {self.counts.get(name)} (official: {value})"
            for name, value in self.expected.items()
            if self.counts.get(name) != value
        ]
        if self.videos_missing:
            found.append(f"videos: {len(self.videos_missing)} missing (first: {self.videos_missing[0]})")
        return found


def benchmarks() -> list[str]:
    """The benchmarks that declare a fetch spec (``owlcap/eval/<name>/fetch.py``)."""
    import owlcap.eval

    return sorted(
        info.name
        for info in pkgutil.iter_modules(owlcap.eval.__path__)
        if info.ispkg and importlib.util.find_spec(f"owlcap.eval.{info.name}.fetch") is not None
    )


def spec_for(benchmark: str) -> FetchSpec:
    known = benchmarks()
    if benchmark not in known:
        raise ConfigError(
            f"no fetch for benchmark {benchmark!r}{_where_else(benchmark)}: choose from {', '.join(known)}"
        )
    return importlib.import_module(f"owlcap.eval.{benchmark}.fetch").SPEC


def _where_else(benchmark: str) -> str:
    """Where an evaluated benchmark without a fetch spec keeps its files (its ``data.OFFICIAL_FILES``), said in the
    refusal so the user knows what to download instead."""
    try:
        official = importlib.import_module(f"owlcap.eval.{benchmark}.data").OFFICIAL_FILES
    except (ImportError, AttributeError):
        return ""
    where = f"{official['repository']} ({official['path']})"
    return f" (its annotations are in {where}: clone it and pass --annotations; videos: {official['media']})"


def fetch(
    spec: FetchSpec,
    out: str | Path,
    *,
    videos: bool = False,
    revision: str | None = None,
    endpoint: str | None = None,
) -> FetchResult:
    """Fetch ``spec``'s files (and videos) into ``out/<benchmark>/``, resuming what an earlier run left; see the
    module docstring. ``endpoint``: the hub's URL (default: ``huggingface_hub``'s, i.e. ``HF_ENDPOINT``). Raises
    ``DownloadError`` when the hub or the disk fails, ``DataError`` when a file does not read as the benchmark."""
    folder = Path(out) / spec.benchmark
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create {folder} ({exc.strerror})") from exc
    lock = lock_folder(folder, busy=f"{folder} is being fetched by another process", advice="wait for it to end")
    try:
        with _disk_errors(folder):
            return _fetch(spec, folder, videos=videos, revision=revision or "main", endpoint=endpoint)
    finally:
        unlock(lock)


def _fetch(spec: FetchSpec, folder: Path, *, videos: bool, revision: str, endpoint: str | None) -> FetchResult:
    manifest = _read_manifest(folder, spec, revision)
    files = [item for item in spec.files if not _file_done(folder, item, manifest)]
    archives = [name for name in (spec.archives if videos else ()) if not _archive_done(folder, name, manifest)]
    result = FetchResult(spec.benchmark, folder, spec.repo_id, manifest.get("commit", ""))
    result.already_there = [item.target for item in spec.files if item not in files]
    if videos:
        result.already_there += [name for name in spec.archives if name not in archives]
    if files or archives:
        if not manifest.get("commit"):  # a fresh fetch: nothing half-downloaded from another commit may be resumed
            shutil.rmtree(folder / HUB_FOLDER, ignore_errors=True)
        hub = _Hub(spec.repo_id, manifest.get("commit") or revision, folder / HUB_FOLDER, endpoint)
        manifest["commit"] = result.commit = hub.commit
        _write_manifest(folder, manifest)  # before any download: what .hub/ holds is from this commit
        wanted = [item.path for item in files] + archives
        _check_space(folder, {name: hub.sizes.get(name, 0) for name in wanted}, archives)
        with progress_bar("MB") as bar:
            task = bar.add_task(f"fetch {spec.benchmark}", total=sum(hub.sizes.get(n, 0) for n in wanted) / 1e6)
            for item in files:
                _lay_out(folder, item, hub.download(item.path, bar, task), manifest)
                result.downloaded.append(item.target)
            for name in archives:
                _extract_videos(folder, name, hub.download(name, bar, task), manifest)
                result.downloaded.append(name)
    result.counts = spec.counts(folder)
    result.expected = dict(spec.expected)
    if videos:
        present = {path.stem for path in (folder / VIDEOS_FOLDER).glob("*") if path.suffix in _VIDEO_SUFFIXES}
        result.videos_missing = sorted(spec.video_ids(folder) - present)
    manifest["counts"] = result.counts
    manifest["differences"] = result.differences
    _write_manifest(folder, manifest)
    return result


# --- the record of what is done (fetch.json) ---------------------------------------------------------------------


def _read_manifest(folder: Path, spec: FetchSpec, revision: str) -> dict[str, Any]:
    """The manifest of an earlier fetch of the same repository and revision; a fresh one otherwise (another
    revision asked for means every file is fetched again, from that revision)."""
    fresh = {"benchmark": spec.benchmark, "repo_id": spec.repo_id, "revision": revision, "files": {}, "archives": {}}
    path = folder / MANIFEST
    if not path.is_file():
        return fresh
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("%s is unreadable: fetching everything again", path)
        return fresh
    if manifest.get("repo_id") != spec.repo_id or manifest.get("revision") != revision:
        logger.info("%s was fetched from %s@%s: fetching %s@%s", folder, manifest.get("repo_id"),
                    manifest.get("revision"), spec.repo_id, revision)  # fmt: skip
        return fresh
    return manifest


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    write_text_atomic(folder / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


def _file_done(folder: Path, item: HubFile, manifest: dict[str, Any]) -> bool:
    record = manifest["files"].get(item.target)
    target = folder / item.target
    return bool(record) and target.is_file() and file_digest(target) == record.get("sha256")


def _archive_done(folder: Path, name: str, manifest: dict[str, Any]) -> bool:
    record = manifest["archives"].get(name)
    return record is not None and all((folder / VIDEOS_FOLDER / video).is_file() for video in record["videos"])


# --- laying the files out ----------------------------------------------------------------------------------------


def _lay_out(folder: Path, item: HubFile, downloaded: Path, manifest: dict[str, Any]) -> None:
    """Write ``item.target`` from the downloaded file (beside it, then renamed: never a half file under its name)
    and record it in the manifest."""
    target = folder / item.target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    try:
        if item.convert is None:
            shutil.copyfile(downloaded, partial)
        else:
            item.convert(downloaded, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    manifest["files"][item.target] = {"source": item.path, "sha256": file_digest(target)}
    _write_manifest(folder, manifest)


def _extract_videos(folder: Path, name: str, archive: Path, manifest: dict[str, Any]) -> None:
    """Extract the archive's video files flat into ``videos/`` (each written beside its name, then renamed), record
    them, then delete the archive: the videos are what is kept."""
    videos = folder / VIDEOS_FOLDER
    videos.mkdir(exist_ok=True)
    extracted = []
    for member_name, open_member in _video_members(archive):
        target = videos / member_name
        partial = videos / f".{member_name}.part"
        with open_member() as source, partial.open("wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
        os.replace(partial, target)
        extracted.append(member_name)
    if not extracted:
        logger.warning("%s holds no video files (the videos check below counts what is missing)", name)
    manifest["archives"][name] = {"videos": sorted(extracted)}
    _write_manifest(folder, manifest)
    archive.unlink()


def _video_members(archive: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    """(file name, opener) of each video file in a zip or tar archive, by its base name (no folders, no paths
    outside ``videos/``); macOS resource forks (``._x.mp4``) are not videos."""

    def wanted(member_path: str) -> str | None:
        base = Path(member_path).name
        return base if base.lower().endswith(_VIDEO_SUFFIXES) and not base.startswith("._") else None

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                if not info.is_dir() and (base := wanted(info.filename)):
                    yield base, lambda info=info: bundle.open(info)
        return
    try:
        with tarfile.open(archive, "r|*") as bundle:  # streamed: a 30 GB .tar.gz is read once, front to back
            for member in bundle:
                if member.isfile() and (base := wanted(member.name)):
                    yield base, lambda member=member: bundle.extractfile(member)
    except tarfile.TarError as exc:
        raise DataError(archive, f"not a zip or tar archive the videos can be read from ({exc})") from exc


# --- the hub -----------------------------------------------------------------------------------------------------


class _Hub:
    """One dataset repository at one commit, through ``huggingface_hub`` (``HF_ENDPOINT``, ``HF_TOKEN`` apply)."""

    def __init__(self, repo_id: str, revision: str, local_dir: Path, endpoint: str | None):
        from huggingface_hub import HfApi, constants

        self.repo_id, self.local_dir = repo_id, local_dir
        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        if constants.HF_HUB_OFFLINE:
            raise DownloadError(f"HF_HUB_OFFLINE is set: unset it to download {repo_id} from {self.endpoint}")
        with self._hub_errors(revision=revision):
            info = HfApi(endpoint=self.endpoint).dataset_info(repo_id, revision=revision, files_metadata=True)
        self.commit = info.sha
        self.sizes = {sibling.rfilename: sibling.size or 0 for sibling in info.siblings or []}

    def download(self, path: str, bar, task) -> Path:
        """``path`` of the repository into ``.hub/<path>``, resuming ``.hub/<path>.part`` where an earlier run
        stopped. A file gets its final name only once its size, and for LFS files its sha256, are the hub's.

        (``hf_hub_download`` resumes only within one process: since huggingface_hub 1.x each download writes a
        process-unique temporary file that is dropped on failure, so a killed 30 GB download would start again.
        Its own ``http_get`` does the ranged transfer, retries and auth here.)"""
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.file_download import http_get
        from huggingface_hub.utils import build_hf_headers

        target = self.local_dir / path
        partial = target.with_name(target.name + ".part")
        url = hf_hub_url(self.repo_id, path, repo_type="dataset", revision=self.commit, endpoint=self.endpoint)
        with self._hub_errors(path=path):
            meta = get_hf_file_metadata(url)
            if target.is_file() and target.stat().st_size == meta.size:  # fetched, not yet laid out
                bar.advance(task, target.stat().st_size / 1e6)
                return target
            headers = build_hf_headers()
            if urlparse(meta.location).netloc != urlparse(url).netloc:
                headers.pop("authorization", None)  # a CDN gets no hub token (as hf_hub_download does)
            target.parent.mkdir(parents=True, exist_ok=True)
            done = partial.stat().st_size if partial.is_file() else 0
            if meta.size is not None and done > meta.size:
                done = 0
            with partial.open("ab" if done else "wb") as sink:
                http_get(
                    meta.location,
                    sink,
                    resume_size=done,
                    headers=headers,
                    expected_size=meta.size,
                    displayed_filename=path,
                    tqdm_class=_byte_counter(bar, task),
                )
        _verify(partial, path, meta.size, meta.etag)
        os.replace(partial, target)
        return target

    @contextlib.contextmanager
    def _hub_errors(self, *, revision: str | None = None, path: str | None = None) -> Iterator[None]:
        from huggingface_hub import errors

        where = f"{self.endpoint}/datasets/{self.repo_id}"
        try:
            yield
        except errors.GatedRepoError as exc:
            raise DownloadError(
                f"{where} is gated: accept its conditions on that page, then log in (`hf auth login` or HF_TOKEN)"
            ) from exc
        except errors.RepositoryNotFoundError as exc:
            raise DownloadError(f"no dataset repository {self.repo_id} at {self.endpoint} (or it is private)") from exc
        except errors.RevisionNotFoundError as exc:
            raise DownloadError(f"{where} has no revision {revision!r} (a branch, tag or commit)") from exc
        except errors.EntryNotFoundError as exc:
            raise DownloadError(
                f"{where} has no file {path} at commit {getattr(self, 'commit', revision)}: the repository's layout "
                "changed; pin an earlier --revision, or tell owlcap's maintainers"
            ) from exc
        except errors.OfflineModeIsEnabled as exc:
            raise DownloadError(f"HF_HUB_OFFLINE is set: unset it to download from {self.endpoint}") from exc
        except errors.HfHubHTTPError as exc:
            raise DownloadError(f"{where}: the hub answered {_status(exc)}; try again later") from exc
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise
            raise DownloadError(f"cannot reach {self.endpoint} ({exc}); check the network (or HF_ENDPOINT)") from exc
        except Exception as exc:
            if type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "requests", "urllib3"):
                raise DownloadError(
                    f"cannot reach {self.endpoint} ({exc}); check the network (or HF_ENDPOINT, HTTPS_PROXY)"
                ) from exc
            raise


def _verify(partial: Path, path: str, size: int | None, etag: str | None) -> None:
    """A downloaded file has the hub's size and, when its ETag is a sha256 (LFS files), that digest; else it is
    deleted and the error says to run again."""
    problem = None
    if size is not None and partial.stat().st_size != size:
        problem = f"{partial.stat().st_size} bytes, the hub says {size}"
    elif etag and re.fullmatch(r"[0-9a-f]{64}", etag) and file_digest(partial) != etag:
        problem = "its sha256 is not the hub's"
    if problem:
        partial.unlink()
        raise DownloadError(f"{path} arrived damaged ({problem}); run the same command again to fetch it anew")


def _status(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return f"HTTP {response.status_code}" if response is not None else str(exc).splitlines()[0]


def _byte_counter(bar, task) -> type:
    """A tqdm stand-in for ``huggingface_hub``'s downloads that moves owlcap's progress bar (in MB) instead of
    drawing its own: one bar for the whole fetch, resumed bytes included."""
    from tqdm import tqdm

    class ByteCounter(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            bar.advance(task, (kwargs.get("initial") or 0) / 1e6)

        def update(self, n: float | None = 1) -> bool | None:
            bar.advance(task, (n or 0) / 1e6)
            return None

    return ByteCounter


def _check_space(folder: Path, sizes: dict[str, int], archives: list[str]) -> None:
    """Refuse before downloading what cannot fit: the files, and each archive twice (it is extracted beside
    itself before it is deleted)."""
    needed = sum(size * (2 if name in archives else 1) for name, size in sizes.items())
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DownloadError(
            f"not enough disk space at {folder}: the download needs {_gb(needed)}, {_gb(free)} is free; free some "
            "space or choose another --out"
        )


@contextlib.contextmanager
def _disk_errors(folder: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DownloadError(
                f"the disk holding {folder} is full; free some space and run the same command again to resume"
            ) from exc
        raise


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"
