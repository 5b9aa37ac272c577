"""Data source connectors and profiling.

    src = open_source(spec, base_dir)            # local file, pkg:MODULE/path, hf:OWNER/NAME, disk:/path
    for row in src.iter_rows(limit=10): ...      # plain dicts, streamed, in source order
    src.count(), src.fields(), src.fingerprint()
    print(render_profiles([profile_source(src)]))
    dev, held_out = load_benchmark(task)
"""
from .base import OnMalformed, OnSkip, Source, infer_fields, merge_types
from .benchmark import load_benchmark
from .files import FileSource, count_nonblank_lines, infer_format
from .hf import DiskSource, HFSource, feature_type_name
from .profile import answer_fields, field_pairs, profile_source, render_profiles, truncate_value
from .resolve import open_source, open_task_sources, package_version, resolve_pkg_path

__all__ = [
    "DiskSource", "FileSource", "HFSource", "OnMalformed", "OnSkip", "Source", "answer_fields", "count_nonblank_lines",
    "feature_type_name", "field_pairs", "infer_fields", "infer_format", "load_benchmark", "merge_types", "open_source",
    "open_task_sources", "package_version", "profile_source", "render_profiles", "resolve_pkg_path",
    "truncate_value",
]
