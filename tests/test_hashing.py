"""``owlcap.hashing``: the digests behind cache keys, fingerprints and the official prompt-set check."""

from __future__ import annotations

import hashlib

from owlcap.hashing import file_digest, json_digest


def test_json_digest_ignores_key_order_and_keeps_what_the_cache_keys_were():
    assert json_digest({"b": 1, "a": [1, "é"]}) == json_digest({"a": [1, "é"], "b": 1})
    canonical = '{"a": [1, "é"], "b": 1}'  # sorted keys, default separators, UTF-8 as is: cache keys stay valid
    assert json_digest({"b": 1, "a": [1, "é"]}) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert len(json_digest({}, 16)) == 16 and json_digest({}).startswith(json_digest({}, 16))


def test_file_digest_streams_the_bytes(tmp_path):
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 9000  # more than one 1 MiB block
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest() and file_digest(path, 12) == file_digest(path)[:12]
