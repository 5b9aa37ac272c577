"""The `arithmetic` kitchen: short integer sums answered with a worked running total and a final `#### N` line
(GSM8K style), with a pool of 10 offline sources (see README.md). Built for the proxy-downstream correlation study:
a 135M model moves on it within a CPU budget."""
from .build import DESCRIPTION, NAME, SOURCES, build_files

__all__ = ["DESCRIPTION", "NAME", "SOURCES", "build_files"]
