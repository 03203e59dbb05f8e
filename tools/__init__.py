"""Developer tools: benchmarks (:mod:`.bench`) and the fault suite."""
