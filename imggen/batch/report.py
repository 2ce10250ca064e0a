"""The gallery of a batch run (--report FILE.html): one self-contained page, every job a card
with its images, failed jobs first, totals on top. It links only relative paths and loads
nothing from the network, so it works as a downloaded CI artifact."""

from __future__ import annotations

import html
import os
import time
from pathlib import Path
from urllib.parse import quote

from imggen.batch.budget import money
from imggen.batch.run import JobResult, Summary
from imggen.errors import UsageError
from imggen.files import owned, save
from imggen.files.imagefile import dimensions
from imggen.files.scratch import Scratch

# The page may load its own images (relative paths) and nothing else: no script, no font,
# no network, even when opened from a web server.
CSP = "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'"

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f4f6;color:#1d1d22}
header{background:#1d1d22;color:#fff;padding:16px 24px}
header h1{margin:0 0 6px;font-size:20px}
header p{margin:2px 0;color:#c9c9d2}
.totals span{display:inline-block;margin-right:18px;font-weight:600;color:#fff}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:16px;
padding:24px}
article{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;overflow:hidden;
border-top:5px solid #999}
article.saved{border-top-color:#2e9d5b}
article.skipped{border-top-color:#8a8a96}
article.failed{border-top-color:#d23c3c}
.images{display:flex;flex-wrap:wrap;gap:4px;background:#e6e6ea}
.images a{flex:1 1 120px}
.images img{display:block;width:100%;height:auto;max-height:320px;object-fit:contain}
.card{padding:10px 14px}
.status{font-weight:700;text-transform:uppercase;font-size:12px;letter-spacing:.05em}
.saved .status{color:#2e9d5b}.skipped .status{color:#6b6b78}.failed .status{color:#d23c3c}
.prompt{margin:6px 0;white-space:pre-wrap;overflow-wrap:anywhere}
.error{margin:6px 0;padding:6px 8px;background:#fdecec;color:#8c1d1d;border-radius:4px;
overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:6px 0 0;font-size:12px}
dt{color:#6b6b78}dd{margin:0;overflow-wrap:anywhere}
"""


def ours(head: bytes) -> bool:
    """Whether a file's first bytes are a gallery imggen wrote (so a re-run may replace it)."""
    return b"<title>imggen batch" in head


def page_path(path: Path, shard: tuple[int, int] | None) -> Path:
    """The page a run writes: FILE, or with --shard I/N FILE-I-of-N, one page per shard."""
    if shard is None:
        return path
    return path.with_name(f"{path.stem}-{shard[0]}-of-{shard[1]}{path.suffix}")


def write(path: Path, summary: Summary, manifest: Path, shard: tuple[int, int] | None) -> None:
    """Write the page atomically (a temp file renamed into place). Raises UsageError when it
    cannot be written."""
    text = render(summary, manifest, path.parent, shard)
    scratch = Scratch()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # as the images: 0666 less the umask; a link at `path` is replaced, not followed
        # a name that is not UTF-8 (surrogate-escaped by Python) must not fail after paying
        data = text.encode("utf-8", "replace")
        tmp = owned.replace(path, data, mode=save._file_mode(), new=scratch.new_fd)
        scratch.release(tmp)
    except OSError as exc:
        raise UsageError(
            f"cannot write the report {path}: {exc.strerror}",
            hint="the results file holds the same; pass --report another path",
        ) from None
    finally:
        scratch.cleanup()


def render(
    summary: Summary, manifest: Path, folder: Path, shard: tuple[int, int] | None = None
) -> str:
    """The whole page; image links are relative to `folder`, where the page will live."""
    e = html.escape
    title = f"imggen batch: {manifest.name}" + (f" (shard {shard[0]}/{shard[1]})" if shard else "")
    order = sorted(summary.results, key=lambda r: (r.status != "failed", r.task.row.number))
    cards = "\n".join(_card(r, folder) for r in order)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        f"<title>{e(title)}</title>\n<style>{STYLE}</style></head>\n<body>\n"
        f"<header><h1>{e(title)}</h1>\n{_totals(summary)}\n"
        f"<p>{e(str(manifest))} · {e(time.strftime('%Y-%m-%d %H:%M:%S %z'))}</p></header>\n"
        f"<main>\n{cards}\n</main>\n</body></html>\n"
    )


def _totals(summary: Summary) -> str:
    counts = [
        f"{summary.total} jobs",
        *(f"{n} {s}" for s in ("failed", "saved", "skipped") if (n := summary.count(s))),
    ]
    if summary.not_started:
        counts.append(f"{summary.not_started} not started")
    images = sum(len(r.paths) for r in summary.results if r.status == "saved")
    counts.append(f"{images} images made")
    cost = summary.cost
    counts.append("cost " + (money(cost, summary.currency) if cost is not None else "not reported"))
    counts.append(f"in {summary.seconds:.1f} s")
    spans = "".join(f"<span>{html.escape(c)}</span>" for c in counts)
    note = ""
    if summary.over_budget:
        note = f"<p>{summary.over_budget} jobs not started: --max-cost reached</p>"
    return f'<p class="totals">{spans}</p>{note}'


def _card(r: JobResult, folder: Path) -> str:
    e = html.escape
    t = r.task
    images, pixels = [], []
    for p in r.paths:
        size = dimensions(Path(p)) if os.path.isfile(p) else None
        pixels.append(f"{size[0]}×{size[1]}" if size else "?")
        src = quote(Path(os.path.relpath(p, folder)).as_posix())
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        images.append(
            f'<a href="{e(src)}"><img src="{e(src)}" loading="lazy"'
            f'{dims} alt="{e(Path(p).name)}"></a>'
        )
    status = r.status
    if status == "skipped":
        status += f" ({r.reason})"
    facts = [
        ("job", f"#{t.row.number} {t.row.where}"),
        ("output", ", ".join(os.path.relpath(p, folder) for p in r.paths) or str(t.row.output)),
        ("model", t.plan.gateway.model),
        ("profile", t.plan.gateway.profile),
        ("pixels", ", ".join(pixels) or "-"),
        ("duration", f"{r.seconds:.1f} s" if r.status != "skipped" else "-"),
        ("cost", money(r.cost, r.currency) if r.cost is not None else "-"),
    ]
    if r.retries:
        facts.append(("retries", str(r.retries)))
    error = ""
    if r.error is not None:
        error = f'<p class="error">exit {int(r.error.exit_code)}: {e(r.error.message)}</p>'
    rows = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts)
    pictures = f'<div class="images">{"".join(images)}</div>' if images else ""
    return (
        f'<article class="{e(r.status)}">{pictures}'
        f'<div class="card"><div class="status">{e(status)}</div>{error}'
        f'<p class="prompt">{e(t.job.prompt or "")}</p><dl>{rows}</dl></div></article>'
    )
