"""batch --provider-batch on a gemini profile with more than 20 MB of requests (edits with large
reference images): the requests go up through the fake gateway's File API as a JSONL file
(resumable upload), the batch is made from it (inputConfig.fileName), and its results file is
downloaded (alt=media) and read; a run killed after the batch was made, re-run, collects it
without a second batch; a failed upload makes no batch and says so."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

from imggen.testing import FakeGateway
from imggen.testing.protocol import Fault
from tests.conftest import SENTINEL_KEY
from tests.e2e import complete_png, start, wait_for
from tests.e2e.test_provider_batch_gemini import creates, env_for, results, run

SIDE = 1600  # a noise PNG of 1600x1600 RGB: about 7.7 MB, 10 MB as base64
OUTPUTS = ("a.png", "b.png", "c.png")


def noise_png(path: Path) -> int:
    """A PNG of random pixels, stored without compression (noise does not compress)."""
    row = SIDE * 3
    raw = b"".join(b"\x00" + os.urandom(row) for _ in range(SIDE))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 0))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return len(data)


def big_manifest(tmp_path: Path) -> None:
    """Three edits of one noise picture: over 30 MB of requests once inlined as base64."""
    assert noise_png(tmp_path / "noise.png") > 7_000_000
    rows = [
        {"prompt": f"make it calm {k}", "output": name, "inputs": ["noise.png"]}
        for k, name in enumerate(OUTPUTS)
    ]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def uploads(fake: FakeGateway) -> list[object]:
    return [r for r in fake.requests if r.path.endswith("/upload/v1beta/files")]


def test_a_batch_over_20_mb_goes_through_the_file_api_and_lands(
    fake: FakeGateway, tmp_path: Path
) -> None:
    big_manifest(tmp_path)
    done = run(["batch", "m.jsonl", "--provider-batch"], env_for(fake), tmp_path)
    assert done.returncode == 0, done.stderr
    assert all(complete_png(tmp_path / n) for n in OUTPUTS)
    assert fake.jobs.submissions["gemini-batch"] == 1
    start_, data = uploads(fake)
    assert start_.headers["x-goog-upload-protocol"] == "resumable"  # type: ignore[attr-defined]
    assert start_.headers["x-goog-upload-header-content-type"] == "application/jsonl"  # type: ignore[attr-defined]
    assert start_.headers["x-goog-api-key"] == SENTINEL_KEY  # type: ignore[attr-defined]
    assert data.headers["x-goog-upload-command"] == "upload, finalize"  # type: ignore[attr-defined]
    assert data.raw_size > 20_000_000  # type: ignore[attr-defined]
    (create,) = creates(fake)
    batch = create.json["batch"]  # type: ignore[attr-defined]
    assert batch["inputConfig"] == {"fileName": batch["inputConfig"]["fileName"]}
    assert batch["inputConfig"]["fileName"].startswith("files/")
    assert create.raw_size < 1000  # type: ignore[attr-defined]
    got = [r for r in fake.requests if "/download/v1beta/files/" in r.path]
    assert len(got) == 1 and got[0].query == {"alt": "media"}
    assert got[0].headers["x-goog-api-key"] == SENTINEL_KEY
    saved = [x for x in results(tmp_path) if x["status"] == "saved"]
    assert sorted(str(x["output"]) for x in saved) == list(OUTPUTS)


def test_killed_after_the_batch_was_made_then_rerun_collects_it_without_a_second_batch(
    fake: FakeGateway, tmp_path: Path
) -> None:
    fake.jobs.queue_seconds = 5.0
    big_manifest(tmp_path)
    env = env_for(fake)
    proc = start(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    state = Path(os.environ["IMGGEN_STATE_DIR"]) / "jobs"
    wait_for(lambda: any(state.glob("*.json")) or proc.poll() is not None, timeout=60)
    assert proc.poll() is None
    proc.kill()  # SIGKILL: the batch is made and recorded, not collected
    proc.communicate(timeout=10)
    assert fake.jobs.submissions["gemini-batch"] == 1
    fake.jobs.queue_seconds = 0.0
    got = run(["batch", "m.jsonl", "--provider-batch"], env, tmp_path)
    assert got.returncode == 0, got.stderr
    assert b"collecting batch batches/" in got.stderr
    assert fake.jobs.submissions["gemini-batch"] == 1 and len(creates(fake)) == 1
    assert len(uploads(fake)) == 2  # one upload: its start and its bytes
    assert all(complete_png(tmp_path / n) for n in OUTPUTS)
    assert not any(state.glob("*.json"))


def test_a_failed_upload_makes_no_batch_and_says_so(fake: FakeGateway, tmp_path: Path) -> None:
    big_manifest(tmp_path)
    fake.faults.extend(Fault("status", path="/upload/v1beta/files", status=503) for _ in range(8))
    done = run(["batch", "m.jsonl", "--provider-batch"], env_for(fake), tmp_path)
    assert done.returncode != 0
    assert b"503" in done.stderr and b"/upload/v1beta/files" in done.stderr, done.stderr
    assert b"uploading the batch's requests failed, so no batch was made" in done.stderr
    assert creates(fake) == [] and fake.jobs.submissions["gemini-batch"] == 0
    assert not any((Path(os.environ["IMGGEN_STATE_DIR"]) / "jobs").glob("*.json"))
    assert [p.name for p in tmp_path.glob("*.png")] == ["noise.png"]
    fake.faults.clear()
    again = run(["batch", "m.jsonl", "--provider-batch"], env_for(fake), tmp_path)
    assert again.returncode == 0, again.stderr
    assert fake.jobs.submissions["gemini-batch"] == 1
    assert all(complete_png(tmp_path / n) for n in OUTPUTS)


def test_failed_requests_in_a_file_batch_fail_their_own_job(
    fake: FakeGateway, tmp_path: Path
) -> None:
    big_manifest(tmp_path)
    rows = (tmp_path / "m.jsonl").read_text().splitlines()
    rows[1] = rows[1].replace("make it calm 1", "[error] make it calm")
    (tmp_path / "m.jsonl").write_text("\n".join(rows) + "\n")
    done = run(["batch", "m.jsonl", "--provider-batch"], env_for(fake), tmp_path)
    assert done.returncode == 4, done.stderr
    by = {x["output"]: x for x in results(tmp_path) if x["status"] != "submitted"}
    assert by["a.png"]["status"] == "saved" and by["c.png"]["status"] == "saved"
    assert by["b.png"]["status"] == "failed" and "invalid argument" in str(by["b.png"]["error"])
