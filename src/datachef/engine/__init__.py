"""Validate → compile → execute recipes; cache, export, publish and manifest.

Modules: validate (compile a recipe, bind ops), context (sources and benchmark for ops; the contamination index),
step (one op run as a step), execute (the streaming executor: stages, fused chains), cache (content-addressed step
cache), export (corpus formats), publish (the output folder, manifest last), run (typed recipes), memory (one op over
in-memory rows: the kit and the broker), protocol (the kit <-> engine contract), python_recipe + sandbox
(Python-program recipes)."""
from .cache import StepCache
from .context import build_context, load_benchmark_index
from .export import FORMATS
from .run import run_recipe
from .validate import CompiledRecipe, compile_recipe

__all__ = ["FORMATS", "CompiledRecipe", "StepCache", "build_context", "compile_recipe", "load_benchmark_index",
           "run_recipe"]
