"""The chef: prompts, recipe generation (typed under constrained decoding, or Python), parse/repair, search, cook."""
from .generate import Chef, ChefConfig, Draft, parse_python, parse_typed
from .typed import ChefRecipe, SourcePick, chef_schema, compile_chef_recipe

__all__ = ["Chef", "ChefConfig", "ChefRecipe", "Draft", "SourcePick", "chef_schema", "compile_chef_recipe",
           "parse_python", "parse_typed"]
