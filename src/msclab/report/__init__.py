"""The self-contained HTML report of an analysis (no network: images are embedded)."""

from .html import render_report, write_report

__all__ = ["render_report", "write_report"]
