"""Build self-contained HTML reports a clinician can open: text, tables and inline PNG figures.

Usage::

    rep = Report("WDBC diagnosis", subtitle="5-fold CV")
    sec = rep.section("Discrimination")
    sec.text("...")
    sec.metrics({"AUROC": result})          # MetricResult or floats
    sec.figure(fig_or_png_path, caption="ROC curve")
    sec.table(dataframe_or_list_of_dicts)
    rep.write(run.path / "report.html")
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from medkit.core.runs import atomic_write_text

_TEMPLATES = Path(__file__).parent / "templates"


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))


def _png_data_uri(fig_or_path: Any) -> str:
    if isinstance(fig_or_path, (str, Path)):
        data = Path(fig_or_path).read_bytes()
    else:
        buf = io.BytesIO()
        fig_or_path.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig_or_path)
        data = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _fmt(v: Any) -> str:
    if hasattr(v, "ci_low") and hasattr(v, "value"):
        return f"{v.value:.3f} ({v.ci_low:.3f}–{v.ci_high:.3f})"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


@dataclass
class Section:
    title: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def text(self, text: str) -> Section:
        self.blocks.append({"kind": "text", "text": text})
        return self

    def html(self, raw: str) -> Section:
        """Raw HTML (trusted, produced by medkit itself, e.g. an SVG molecule drawing)."""
        self.blocks.append({"kind": "html", "html": raw})
        return self

    def figure(self, fig_or_path: Any, caption: str = "", alt: str = "") -> Section:
        self.blocks.append({"kind": "figure", "src": _png_data_uri(fig_or_path), "caption": caption,
                            "alt": alt or caption or self.title})
        return self

    def table(self, rows: Any, caption: str = "", max_rows: int = 200) -> Section:
        if hasattr(rows, "to_dict"):
            rows = rows.to_dict(orient="records")
        rows = list(rows)[:max_rows]
        cols: list[str] = []
        for r in rows:
            cols.extend(k for k in r if k not in cols)
        body = [[_fmt(r.get(c, "")) for c in cols] for r in rows]
        self.blocks.append({"kind": "table", "cols": cols, "rows": body, "caption": caption})
        return self

    def metrics(self, values: dict[str, Any], caption: str = "Point estimate (95% bootstrap CI)") -> Section:
        return self.table([{"metric": k, "value": _fmt(v)} for k, v in values.items()], caption=caption)

    def link(self, href: str, label: str) -> Section:
        self.blocks.append({"kind": "link", "href": href, "label": label})
        return self


@dataclass
class Report:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)

    def section(self, title: str) -> Section:
        s = Section(title)
        self.sections.append(s)
        return s

    def render(self) -> str:
        return _env().get_template("report.html.j2").render(
            title=self.title, subtitle=self.subtitle, sections=self.sections, meta=self.meta,
            generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        )

    def write(self, path: str | Path) -> Path:
        p = Path(path)
        atomic_write_text(p, self.render())
        return p


def write_index(path: str | Path, title: str, entries: list[dict[str, str]], intro: str = "") -> Path:
    """An index page linking reports: entries have ``href``, ``title``, ``summary``."""
    p = Path(path)
    body = _env().get_template("index.html.j2").render(
        title=title, intro=intro, entries=entries, generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    atomic_write_text(p, body)
    return p


def escape(text: str) -> str:
    return html.escape(text)
