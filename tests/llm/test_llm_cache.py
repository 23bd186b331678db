import subprocess
import sys
import threading
from pathlib import Path

from owlcap.llm.cache import ResultCache
from owlcap.units import decompose_task

SRC = Path(__file__).resolve().parents[2] / "src"


def test_roundtrip_and_overwrite(tmp_path):
    cache = ResultCache(tmp_path / "c.sqlite")
    assert cache.get("k") is None
    cache.put("k", {"units": ["a"]}, kind="units.decompose")
    cache.put("k", {"units": ["b"]})
    assert cache.get("k") == {"units": ["b"]}
    assert len(cache) == 1


def test_many_threads_write_and_read(tmp_path):
    cache = ResultCache(tmp_path / "c.sqlite")
    errors = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                cache.put(f"{worker}-{i}", {"v": i})
                assert cache.get(f"{worker}-{i}") == {"v": i}
        except Exception as exc:  # noqa: BLE001 - surfaced through the list below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(cache) == 240


def test_processes_share_one_file(tmp_path):
    path = tmp_path / "c.sqlite"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from owlcap.llm.cache import ResultCache;"
        "c = ResultCache(sys.argv[2]);"
        "[c.put(f'{sys.argv[3]}-{i}', {'i': i}) for i in range(100)]"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(SRC), str(path), str(n)]) for n in range(3)]
    assert all(proc.wait(60) == 0 for proc in procs)
    cache = ResultCache(path)
    assert len(cache) == 300
    assert cache.get("2-99") == {"i": 99}


def test_cache_key_covers_backend_model_version_and_input():
    task = decompose_task("A dog runs.")
    key = task.cache_key("openai", "m1")
    assert key == decompose_task("A dog runs.").cache_key("openai", "m1")
    assert key != task.cache_key("openai", "m2")
    assert key != task.cache_key("hf", "m1")
    assert key != decompose_task("A cat runs.").cache_key("openai", "m1")
    bumped = type(task)(**{**task.__dict__, "version": "decompose-v2"})
    assert key != bumped.cache_key("openai", "m1")
