"""Self-contained HTML reports (images inlined), run index pages."""

from medkit.reporting.html import Report, write_index

__all__ = ["Report", "write_index"]
