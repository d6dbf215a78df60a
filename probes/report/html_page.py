"""report.html: report.md as one self-contained page (tables, headings, lists, and images
inlined as base64), so the one file can be mailed or attached without its folder."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path


def render_html(markdown: str, base: Path) -> str:
    """A self-contained page from report.md: tables, headings, lists and images inlined as
    base64, so the one file can be mailed or attached without its folder."""
    body: list[str] = []
    rows: list[list[str]] = []

    def inline(text: str) -> str:
        text = html.escape(text)
        text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)

    def flush_table() -> None:
        if rows:
            head, *rest = rows
            body.append(
                "<table><tr>"
                + "".join(f"<th>{inline(c)}</th>" for c in head)
                + "</tr>"
                + "".join(
                    "<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in rest
                )
                + "</table>"
            )
            rows.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= {"-"} for c in cells):
                rows.append(cells)
            continue
        flush_table()
        image = re.match(r"!\[(.*)\]\((.*)\)", line)
        if image:
            data = base64.b64encode((base / image.group(2)).read_bytes()).decode()
            alt = html.escape(image.group(1))
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{alt}"></figure>')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line.startswith("- "):
            body.append(f"<ul><li>{inline(line[2:])}</li></ul>")
        elif line.strip():
            body.append(f"<p>{inline(line)}</p>")
    flush_table()
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}"
        "img{max-width:100%}"
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Othello-GPT report</title>'
        f"<style>{style}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )
