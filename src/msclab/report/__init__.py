"""The self-contained HTML report of an analysis (no network: images are embedded).

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "render_report": ".html",
        "write_report": ".html",
        "ReportData": ".html",
    },
    ("forest", "html"),
)
