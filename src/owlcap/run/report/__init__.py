"""The run report: ``collect`` gathers the figures (report.json), ``plots`` draws them, ``render`` writes
report.md and the self-contained index.html."""
