"""The gallery of a batch run (--report FILE.html): self-contained pages of PAGE cards, every job
a card with its images (lazy-loaded), failed jobs first, totals on top of each page. It links
only relative paths and loads nothing from the network, so it works as a downloaded CI
artifact."""

from __future__ import annotations

import glob
import html
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
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
nav.pages{margin:8px 24px;line-height:1.8}nav.pages a,nav.pages b{margin-right:6px}
header nav.pages{margin:8px 0 0;color:#c9c9d2}header nav.pages a{color:#fff}
.empty{grid-column:1/-1;font-size:16px;color:#6b6b78}
"""


def ours(head: bytes) -> bool:
    """Whether a file's first bytes are a gallery imggen wrote (so a re-run may replace it)."""
    return b"<title>imggen batch" in head


PAGE = 200  # cards a page: 10,000 jobs make 50 pages, not one of 10,000 images


def page_path(path: Path, shard: tuple[int, int] | None) -> Path:
    """The page a run writes: FILE, or with --shard I/N FILE-I-of-N, one page per shard."""
    if shard is None:
        return path
    return path.with_name(f"{path.stem}-{shard[0]}-of-{shard[1]}{path.suffix}")


def page_names(path: Path, count: int) -> list[Path]:
    """The files of a gallery of `count` pages: FILE, then FILE-page-2, FILE-page-3 ..."""
    more = [path.with_name(f"{path.stem}-page-{k}{path.suffix}") for k in range(2, count + 1)]
    return [path, *more]


def shard_records(manifest: Path) -> dict[int, dict[str, Any]]:
    """What the --shard runs of a manifest recorded, from their results files beside it
    (MANIFEST.results-I-of-N.jsonl): each job's last saved record by job number, naming its
    run ("shard 2/3"). Lines that are not whole JSON objects are passed over."""
    found: dict[int, dict[str, Any]] = {}
    pattern = re.compile(re.escape(manifest.stem) + r"\.results-(\d+)-of-(\d+)\.jsonl")
    for path in sorted(manifest.parent.glob(f"{glob.escape(manifest.stem)}.results-*-of-*.jsonl")):
        named = pattern.fullmatch(path.name)
        if not named:
            continue
        try:
            with path.open("rb") as lines:
                for line in lines:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(record, dict) and record.get("status") == "saved":
                        record["run"] = f"shard {named[1]}/{named[2]}"
                        if isinstance(job := record.get("job"), int):
                            found[job] = record
        except OSError:
            continue
    return found


def write(
    path: Path,
    summary: Summary,
    manifest: Path,
    shard: tuple[int, int] | None,
    earlier: Mapping[int, dict[str, Any]] | None = None,
) -> list[Path]:
    """Write the pages, each atomically (a temp file renamed into place); returns them.
    ``earlier``: by job number, what an earlier run (a shard's) recorded of a job this run
    skipped. Raises UsageError when one cannot be written."""
    count = max(1, -(-len(summary.results) // PAGE))
    paths = page_names(path, count)
    head, order = _head(summary, manifest, shard, earlier or {}), _order(summary)
    for k, target in enumerate(paths, 1):
        chunk = order[(k - 1) * PAGE : k * PAGE]
        _write(target, _page(head, chunk, path.parent, shard, earlier or {}, k, paths))
    return paths


def _write(path: Path, text: str) -> None:
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


def _text(page: str) -> str:
    """A page fit to be written: a name that is not UTF-8 (kept by Python as lone
    surrogates) shows with U+FFFD where its odd bytes were, instead of failing to encode."""
    return page.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _e(value: object) -> str:
    return html.escape(str(value))


def render(
    summary: Summary,
    manifest: Path,
    folder: Path,
    shard: tuple[int, int] | None = None,
    earlier: Mapping[int, dict[str, Any]] | None = None,
) -> str:
    """The first page of PAGE cards; image links are relative to `folder`, where the pages
    will live."""
    head, order = _head(summary, manifest, shard, earlier or {}), _order(summary)
    return _page(head, order[:PAGE], folder, shard, earlier or {}, 1, [])


def _order(summary: Summary) -> list[JobResult]:
    return sorted(summary.results, key=lambda r: (r.status != "failed", r.task.row.number))


def _head(
    summary: Summary,
    manifest: Path,
    shard: tuple[int, int] | None,
    earlier: Mapping[int, dict[str, Any]],
) -> tuple[str, str]:
    """(title, the header's lines): the same on every page, made once."""
    title = f"imggen batch: {manifest.name}" + (f" (shard {shard[0]}/{shard[1]})" if shard else "")
    when = time.strftime("%Y-%m-%d %H:%M:%S %z")
    return title, f"{_totals(summary, earlier)}\n<p>{_e(manifest)} · {_e(when)}</p>"


def _page(
    head: tuple[str, str],
    chunk: list[JobResult],
    folder: Path,
    shard: tuple[int, int] | None,
    earlier: Mapping[int, dict[str, Any]],
    page: int,
    names: list[Path],
) -> str:
    """One page: the header, these cards, and links to the other pages."""
    title, lines = head
    cards = "\n".join(_card(r, folder, earlier.get(r.task.row.number)) for r in chunk)
    if not chunk:
        where = f"shard {shard[0]} of {shard[1]}" if shard else "this run"
        why = " (the manifest's jobs all fell to the other shards)" if shard else ""
        cards = f'<p class="empty">No jobs in {where}{why}.</p>'
    nav = _nav(page, names)
    return _text(
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style></head>\n<body>\n"
        f"<header><h1>{_e(title)}</h1>\n{lines}{nav}</header>\n"
        f"<main>\n{cards}\n</main>\n{nav}</body></html>\n"
    )


def _nav(page: int, names: list[Path]) -> str:
    """Links to every page of the gallery, this one in bold; nothing for a single page."""
    if len(names) < 2:
        return ""
    links = [
        f"<b>{k}</b>" if k == page else f'<a href="{_e(quote(os.fsencode(p.name)))}">{k}</a>'
        for k, p in enumerate(names, 1)
    ]
    return f'<nav class="pages">page {page} of {len(names)}: {" ".join(links)}</nav>'


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _totals(summary: Summary, earlier: Mapping[int, dict[str, Any]]) -> str:
    counts = [
        _plural(summary.total, "job"),
        *(f"{n} {s}" for s in ("failed", "saved", "skipped") if (n := summary.count(s))),
    ]
    if summary.not_started:
        counts.append(f"{summary.not_started} not started")
    images = sum(len(r.paths) for r in summary.results if r.status == "saved")
    counts.append(_plural(images, "image") + " made")
    cost = summary.cost
    counts.append("cost " + (money(cost, summary.currency) if cost is not None else "not reported"))
    counts.append(f"in {summary.seconds:.1f} s")
    spans = "".join(f"<span>{_e(c)}</span>" for c in counts)
    note = ""
    if summary.over_budget:
        note = f"<p>{summary.over_budget} jobs not started: --max-cost reached</p>"
    if earlier:
        before = [r for r in earlier.values() if r.get("status") == "saved"]
        costs = [c for r in before if isinstance(c := r.get("cost"), int | float)]
        spent = f", cost {money(sum(costs))}" if costs else ""
        note += f"<p>{_plural(len(before), 'job')} made by earlier runs (shards){_e(spent)}</p>"
    return f'<p class="totals">{spans}</p>{note}'


def _relative(path: str, folder: str) -> str:
    """`path` from `folder` (both absolute): a plain cut when it lies inside, as it mostly
    does, else os.path.relpath."""
    if path.startswith(folder) and path[len(folder) : len(folder) + 1] == os.sep:
        return path[len(folder) + 1 :]
    return os.path.relpath(path, folder)


def _card(r: JobResult, folder: Path, before: dict[str, Any] | None = None) -> str:
    e = _e
    t = r.task
    images, pixels, shown = [], [], []
    base = os.path.abspath(folder)
    for p in r.paths:
        rel = _relative(p, base) if os.path.isabs(p) else os.path.relpath(p, folder)
        try:
            with open(p, "rb") as f:
                size = dimensions(f)
        except OSError:
            size = None
        pixels.append(f"{size[0]}×{size[1]}" if size else "?")
        shown.append(rel)
        src = e(quote(os.fsencode(rel.replace(os.sep, "/"))))
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        images.append(
            f'<a href="{src}"><img src="{src}" loading="lazy"'
            f'{dims} decoding="async" alt="{e(os.path.basename(p))}"></a>'
        )
    status, seconds, cost, retries = r.status, r.seconds, r.cost, r.retries
    currency = r.currency
    if status == "skipped" and before and before.get("status") == "saved":
        status = f"saved (by {before.get('run', 'an earlier run')})"
        seconds, retries = float(before.get("seconds") or 0), int(before.get("retries") or 0)
        cost, currency = before.get("cost"), before.get("currency")
    elif status == "skipped":
        status += f" ({r.reason})"
    facts = [
        ("job", f"#{t.row.number} {t.row.where}"),
        ("output", ", ".join(shown) or str(t.row.output)),
        ("model", t.plan.gateway.model),
        ("profile", t.plan.gateway.profile),
        ("pixels", ", ".join(pixels) or "-"),
        ("duration", f"{seconds:.1f} s" if not status.startswith("skipped") else "-"),
        ("cost", money(cost, currency) if isinstance(cost, int | float) else "-"),
    ]
    if retries:
        facts.append(("retries", str(retries)))
    error = ""
    if r.error is not None:
        error = f'<p class="error">exit {int(r.error.exit_code)}: {e(r.error.message)}</p>'
    rows = "".join(f"<dt>{k}</dt><dd>{e(v)}</dd>" for k, v in facts)  # names are ours
    pictures = f'<div class="images">{"".join(images)}</div>' if images else ""
    return (
        f'<article class="{r.status}">{pictures}'
        f'<div class="card"><div class="status">{e(status)}</div>{error}'
        f'<p class="prompt">{e(t.job.prompt or "")}</p><dl>{rows}</dl></div></article>'
    )
