"""Teaching the chef by reinforcement learning (the paper's §3.3): the policy's compact prompt and answer
(`policy`), the reward of a completion (`reward`: parse, compile, execute, verify; penalties for what does not
run), demonstrations by rejection sampling (`demos`) and the cold-start SFT with its executability measure (`sft`).

Built so far: these. GRPO (TRL) builds on them (issue 12)."""
from .policy import compact_prompt, compact_schema, from_chef_recipe, options, parse_compact
from .reward import REWARD_KINDS, RecipeReward, RewardConfig, RewardResult, RolloutTask

__all__ = ["REWARD_KINDS", "RecipeReward", "RewardConfig", "RewardResult", "RolloutTask", "compact_prompt",
           "compact_schema", "from_chef_recipe", "options", "parse_compact"]
