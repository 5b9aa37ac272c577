"""Teaching the chef by reinforcement learning (the paper's §3.3). The policy writes the chef's compact recipe form
(`chef.compact`: a short prompt, a ~50-token answer). Here: the reward of a completion (`reward`: parse, compile,
execute, verify; penalties for what does not run), demonstrations by rejection sampling (`demos`), the cold-start
SFT with its executability measure (`sft`) and GRPO on the reward (`grpo`, TRL's GRPOTrainer)."""
from ..chef.compact import compact_prompt, compact_schema, from_chef_recipe, options, parse_compact
from .reward import REWARD_KINDS, RecipeReward, RewardConfig, RewardResult, RolloutTask

__all__ = ["REWARD_KINDS", "RecipeReward", "RewardConfig", "RewardResult", "RolloutTask", "compact_prompt",
           "compact_schema", "from_chef_recipe", "options", "parse_compact"]
