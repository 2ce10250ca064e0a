"""issue 14 end to end: the installed imggen against hostile loopback gateways, bounded in
memory (RLIMIT_AS) and time. Nothing leaked, nothing lost, nothing unbounded."""

from __future__ import annotations

from pathlib import Path

from imggen.files.provenance import read_provenance
from imggen.testing import make_png
from tests.conftest import SENTINEL_KEY
from tests.e2e.hostile import Hostile, links_reply, run_bounded, send, serving

PNG = make_png(32, 32)


def test_a_hundred_links_for_one_image_cost_one_download(tmp_path: Path) -> None:
    with Hostile() as gw:
        urls = [f"{gw.url}/img/{i}.png" for i in range(100)]
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply(urls))
        gw.routes["/img/"] = serving(PNG)
        done, _ = run_bounded(["generate", "x", "-o", "one.png"], gw.env(), tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert gw.count("/img/") == 1
    assert "sent 100 images for 1 asked" in done.stderr.decode()


def test_an_expired_first_link_is_replaced_by_one_spare(tmp_path: Path) -> None:
    with Hostile() as gw:
        urls = [f"{gw.url}/gone/0.png"] + [f"{gw.url}/img/{i}.png" for i in range(1, 50)]
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply(urls))
        gw.routes["/gone/"] = serving(b"<Error>Request has expired</Error>", "application/xml")
        gw.routes["/img/"] = serving(PNG)
        done, _ = run_bounded(["generate", "x", "-o", "one.png"], gw.env(), tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert (gw.count("/gone/"), gw.count("/img/")) == (1, 1)


def test_a_signed_reference_url_is_saved_without_its_signature(tmp_path: Path) -> None:
    signed = "https://bucket.example/ref.png?X-Amz-Signature=deadbeef&token=s3cr3t#frag"
    with Hostile() as gw:
        gw.routes["/v1/chat/completions"] = lambda h: send(h, links_reply([f"{gw.url}/img/a"]))
        gw.routes["/img/"] = serving(PNG)
        done, _ = run_bounded(["generate", "x", "-r", signed, "-o", "a.png"], gw.env(), tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    record = read_provenance(tmp_path / "a.png")
    assert record is not None
    assert record["refs"][0]["url"] == "https://bucket.example/ref.png"
    assert record["refs"][0]["name"] == "ref.png"
    data = (tmp_path / "a.png").read_bytes()
    assert b"deadbeef" not in data and b"s3cr3t" not in data
    assert SENTINEL_KEY.encode() not in data
