"""The contract between a Python-program recipe (a script using `datachef.kit`, run in the sandbox) and the engine
that runs it: which kit steps the trusted parent serves, what the script writes, and the environment it is given.
Both sides import these names from here, so they cannot drift apart."""
from __future__ import annotations

# Bump when the kit/broker/record contract changes, so cached Python-recipe results are not reused.
KIT_PROTOCOL = 1

# Ops that need data or services a sandboxed script may not reach; the broker runs them in the trusted parent.
BROKERED_OPS = frozenset({"load", "decontaminate", "llm_map", "llm_generate"})

# What `kit.dump` writes into the run folder: the records, the step ledger, samples of dropped rows.
RECORDS_FILE, STATS_FILE, DROPPED_FILE = "records.jsonl", "stats.json", "dropped.jsonl"

# Environment set by the runner for the script's process.
ENV_TASK, ENV_OUT = "DATACHEF_KIT_TASK", "DATACHEF_KIT_OUT"
ENV_CAPS, ENV_SEED = "DATACHEF_KIT_CAPS", "DATACHEF_KIT_SEED"

# Dropped rows kept as samples per (step, reason), in a run's dropped/ folder and in the kit's dropped.jsonl.
DROPPED_SAMPLES_PER_REASON = 20
