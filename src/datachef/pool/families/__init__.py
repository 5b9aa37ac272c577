"""Task families of the pool: each module named in `FAMILIES` exports `TASKS` (PoolTask entries) and the builders
they name; `common` holds what the knowledge and held-out families share."""

FAMILIES: tuple[str, ...] = ("kitchens", "reasoning", "knowledge", "heldout_id", "heldout_ood")
