"""The `gsm8k` kitchen: GSM8K-style math word problems with a pool of 9 offline sources (see README.md)."""
from .build import DESCRIPTION, NAME, SOURCES, build_files

__all__ = ["DESCRIPTION", "NAME", "SOURCES", "build_files"]
