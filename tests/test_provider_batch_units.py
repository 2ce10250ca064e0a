"""The pieces of `batch --provider-batch` below the command: the batch price (prices.py), a
reported cost at the batch price (provider.discounted), and Gemini's batch mode
(provider_gemini.py): its states, answers found by key or by place, a failed request's Status
as the error it stands for, large strings read back from disk, and requests inline up to 20 MB
(over it: test_gemini_files.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from imggen import prices
from imggen.batch.provider import discounted
from imggen.batch.provider_gemini import INLINE_CAP, GeminiBatch, Inlined
from imggen.errors import AuthFailed, GatewayFailed, GatewayRefused
from imggen.files.ledger import Entry
from imggen.job import HttpCall


def test_the_batch_price_is_half_the_list_price() -> None:
    listed = prices.estimate("gpt-image-1", 2, quality="high", pixels=(1024, 1024))
    batch = prices.estimate("gpt-image-1", 2, quality="high", pixels=(1024, 1024), batch=True)
    assert (listed.per_image, batch.per_image) == (0.167, 0.0835)
    assert batch.total == 0.167 and "batch price" in batch.basis
    unknown = prices.estimate("gemini-2.5-flash-image", 1, batch=True)
    assert unknown.per_image is None and not unknown.known
    assert prices.batch_cost(0.04) == 0.02


def test_a_reported_cost_is_counted_at_the_batch_price() -> None:
    assert discounted({"cost": 0.08, "total_tokens": 9}) == {"cost": 0.04, "total_tokens": 9}
    assert discounted({"total_tokens": 9}) == {"total_tokens": 9}
    assert discounted(None) is None
    assert discounted({"cost": "NaN"}) == {"cost": "NaN"}  # reported as not an amount, unchanged


class Files:
    """A client whose fetch_to writes the given documents in turn."""

    def __init__(self, *docs: dict[str, Any]) -> None:
        self.docs = list(docs)
        self.asked: list[str] = []
        self.sent: list[HttpCall] = []

    def fetch_to(self, path: str, out: Any) -> int:
        self.asked.append(path)
        data = json.dumps(self.docs.pop(0)).encode()
        out.write(data)
        return len(data)

    def submit(self, call: HttpCall) -> Any:
        self.sent.append(call)
        return {"name": "batches/b1", "metadata": {"state": "BATCH_STATE_PENDING"}}


def entry(members: dict[str, str] | None = None) -> Entry:
    return Entry(
        key="k",
        id="batches/b1",
        provider="gemini-batch",
        profile="gemini",
        base_url="https://x/v1beta",
        model="gemini-2.5-flash-image",
        poll="/batches/b1",
        request={"members": members or {"a": "1-0", "b": "2-0"}},
    )


def backend(tmp_path: Path) -> GeminiBatch:
    g = GeminiBatch()
    g.folder = lambda: tmp_path
    return g


def op(state: str, **extra: Any) -> dict[str, Any]:
    return {"name": "batches/b1", "metadata": {"state": state}, **extra}


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 200_000).decode()


def image(text: str = PNG) -> dict[str, Any]:
    part = {"inlineData": {"mimeType": "image/png", "data": text}}
    return {"candidates": [{"content": {"parts": [part]}, "finishReason": "STOP"}]}


def test_states_map_to_waiting_done_and_failed(tmp_path: Path) -> None:
    g = backend(tmp_path)
    done = op("BATCH_STATE_SUCCEEDED", done=True, response={"inlinedResponses": {}})
    failed = op("BATCH_STATE_FAILED", done=True, error={"code": 13, "message": "it broke"})
    client = Files(
        op("BATCH_STATE_PENDING"),
        op("BATCH_STATE_RUNNING"),
        done,
        failed,
        op("BATCH_STATE_CANCELLED", done=True),
        op("BATCH_STATE_EXPIRED", done=True),
        op("BATCH_STATE_UNSPECIFIED"),  # not over: waited on
        {"name": "batches/b1", "done": True},
    )
    seen = [g.poll(client, entry())[0] for _ in range(8)]
    assert [s.state for s in seen] == ["queued", "running", "done"] + ["failed"] * 3 + [
        "running",
        "failed",
    ]
    assert seen[3].error == "it broke" and seen[4].error == "the batch is cancelled"
    assert seen[5].error == "the batch is expired"
    assert seen[7].error == "the batch is over without its responses"
    assert client.asked == ["/batches/b1"] * 8
    assert list(tmp_path.iterdir()) == []  # each poll's file is gone once read


def test_answers_by_key_else_by_place_with_images_read_back_from_disk(tmp_path: Path) -> None:
    g = backend(tmp_path)
    listed = [
        {"metadata": {"key": "2-0"}, "response": image()},
        {"response": image("iVBORw0KGgo=")},  # no key: the second request sent
    ]
    doc = op("BATCH_STATE_SUCCEEDED", done=True, response={"inlinedResponses": {}})
    doc["response"]["inlinedResponses"]["inlinedResponses"] = listed
    g.poll(Files(doc), entry({"a": "1-0", "b": "2-0"}))
    assert any(tmp_path.iterdir())  # the large image was spilled, not kept in memory
    answers = g.answers(None, entry({"a": "1-0", "b": "2-0"}))
    first = answers.answer("2-0", "m.jsonl:2")
    assert first["candidates"][0]["content"]["parts"][0]["inlineData"]["data"] == PNG
    # the keyless response takes the place of its request: the 2nd sent ("2-0" is taken)
    with pytest.raises(GatewayFailed, match=r"no answer for m.jsonl:1 \(1-0\)"):
        answers.answer("1-0", "m.jsonl:1")
    answers.close()
    assert list(tmp_path.iterdir()) == []


def test_answers_fall_back_to_the_order_of_the_requests(tmp_path: Path) -> None:
    doc = {"response": {"inlinedResponses": {"inlinedResponses": [{"response": image("AA==")}]}}}
    found = Inlined(doc, ["1-0"], lambda: None)
    assert found.answer("1-0", "x")["candidates"][0]["content"]["parts"][0]["inlineData"]


def test_a_failed_request_raises_what_its_status_stands_for() -> None:
    doc = {
        "metadata": {
            "output": {
                "inlinedResponses": {
                    "inlinedResponses": [
                        {"metadata": {"key": "1-0"}, "error": {"code": 3, "message": "bad"}},
                        {"metadata": {"key": "2-0"}, "error": {"code": 16, "message": "who"}},
                        {"metadata": {"key": "3-0"}, "error": {"code": 14, "message": "busy"}},
                    ]
                }
            }
        }
    }
    found = Inlined(doc, [], lambda: None)
    with pytest.raises(GatewayRefused, match="bad"):
        found.answer("1-0", "x")
    with pytest.raises(AuthFailed):
        found.answer("2-0", "x")
    with pytest.raises(GatewayFailed, match="busy"):
        found.answer("3-0", "x")


def test_up_to_the_inline_limit_the_requests_go_inline(tmp_path: Path) -> None:
    g = backend(tmp_path)
    client = Files()
    body = {"contents": [{"parts": [{"text": "x" * (INLINE_CAP // 2)}]}]}
    call = HttpCall("POST", "/models/gemini-2.5-flash-image:generateContent", json=body)
    name = g.submit(client, [("1-0", call)], "imggen m.jsonl")
    (sent,) = client.sent
    assert name == "batches/b1"
    assert sent.path == "/models/gemini-2.5-flash-image:batchGenerateContent"
    inline = sent.json["batch"]["inputConfig"]["requests"]["requests"]
    assert inline == [{"request": body, "metadata": {"key": "1-0"}}]


def test_a_reply_that_is_not_json_is_the_gateways_fault(tmp_path: Path) -> None:
    class Junk(Files):
        def fetch_to(self, path: str, out: Any) -> int:
            out.write(b"<html>oops")
            return 10

    with pytest.raises(GatewayFailed, match="not JSON"):
        backend(tmp_path).poll(Junk(), entry())
    assert list(tmp_path.iterdir()) == []  # the parser left no file behind


def test_replay_answers_each_call_in_turn_without_the_key() -> None:
    from types import SimpleNamespace

    from imggen.batch.provider import Replay
    from imggen.dialects.google import GOOGLE

    key = "sk-secret-12345678"
    said = {"candidates": [{"content": {"parts": [{"text": f"key {key} here"}]}}]}

    class Two:
        asked: list[str] = []

        def answer(self, custom_id: str, where: str) -> Any:
            self.asked.append(custom_id)
            if custom_id.endswith("-1"):
                raise GatewayRefused(f"bad key {key}")
            return {**said, "usageMetadata": {"cost": 0.1}}

        def close(self) -> None:
            pass

    task: Any = SimpleNamespace(row=SimpleNamespace(number=7, where="m.jsonl:7"))
    replay = Replay(object(), Two(), task, key)
    reply = replay.send(HttpCall("POST", "/x"), GOOGLE, None)
    assert reply.text == "key *** here" and reply.usage == {"cost": 0.05}
    with pytest.raises(GatewayRefused, match=r"bad key \*\*\*$"):
        replay.send(HttpCall("POST", "/x"), GOOGLE, None)
    assert Two.asked == ["7-0", "7-1"]
