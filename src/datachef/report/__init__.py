"""Run reports (self-contained HTML with inline SVG charts; no plotting dependency)."""
