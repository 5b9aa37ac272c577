"""Teaching the chef by reinforcement learning (the paper's §3.3): the reward of a policy's completion
(`reward`: parse, compile, execute, verify; penalties for what does not run).

Built so far: the reward. Demonstrations, cold-start SFT and GRPO (TRL) build on it (issue 12)."""
from .reward import REWARD_KINDS, RecipeReward, RewardConfig, RewardResult, RolloutTask

__all__ = ["REWARD_KINDS", "RecipeReward", "RewardConfig", "RewardResult", "RolloutTask"]
