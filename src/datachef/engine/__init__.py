"""Validate → compile → execute recipes; cache, export and manifest."""
from .cache import StepCache, default_cache_dir
from .export import FORMATS
from .run import build_context, run_recipe
from .validate import CompiledRecipe, compile_recipe

__all__ = ["FORMATS", "CompiledRecipe", "StepCache", "build_context", "compile_recipe", "default_cache_dir",
           "run_recipe"]
