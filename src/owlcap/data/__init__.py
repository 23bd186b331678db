"""owlcap.data: the HMD record schema and where videos come from (files, folders, JSONL manifests)."""
