"""owlcap.eval: the caption runner (batched, resumable, refusing to mix settings in one output)."""
