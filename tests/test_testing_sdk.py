"""The official `openai` SDK against the offline gateway (issue 25): generate, edit, stream,
models.list and models.retrieve work, and every reply validates against the SDK's own types
(which the SDK itself does not check)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest

openai = pytest.importorskip("openai")

from openai.types import (  # noqa: E402
    ImageEditCompletedEvent,
    ImageGenCompletedEvent,
    ImageGenPartialImageEvent,
    ImagesResponse,
    Model,
)

from imggen.testing import FakeGateway, make_png  # noqa: E402

KEY = "sk-test-sdk"


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    with FakeGateway(api_key=KEY) as gateway:
        gateway.models.append({"id": "gpt-image-1"})
        yield gateway


@pytest.fixture
def client(gw: FakeGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=KEY, base_url=gw.base_url, max_retries=0, timeout=30) as c:
        yield c


def test_generate_validates_as_an_images_response(client: openai.OpenAI) -> None:
    raw = client.images.with_raw_response.generate(
        model="gpt-image-1", prompt="a red fox", size="1536x1024", quality="low", n=2
    )
    reply = ImagesResponse.model_validate(raw.http_response.json())
    assert (reply.size, reply.quality, reply.output_format, reply.background) == (
        "1536x1024",
        "low",
        "png",
        "opaque",
    )
    assert reply.data is not None and len(reply.data) == 2
    assert base64.b64decode(reply.data[0].b64_json or "")[:4] == b"\x89PNG"
    assert raw.parse().created == reply.created


def test_edit_with_mask(client: openai.OpenAI) -> None:
    image = ("in.png", io.BytesIO(make_png(64, 64)), "image/png")
    mask = ("mask.png", io.BytesIO(make_png(64, 64)), "image/png")
    raw = client.images.with_raw_response.edit(
        model="gpt-image-1", image=image, mask=mask, prompt="add a hat", size="1024x1024"
    )
    reply = ImagesResponse.model_validate(raw.http_response.json())
    assert reply.size == "1024x1024" and reply.data


def test_a_wrong_key_is_the_sdks_authentication_error(gw: FakeGateway) -> None:
    with openai.OpenAI(api_key="sk-wrong", base_url=gw.base_url, max_retries=0) as c:
        with pytest.raises(openai.AuthenticationError) as caught:
            c.models.list()
    assert caught.value.status_code == 401 and "sk-wrong" not in str(caught.value)


def test_unknown_parameter_is_the_sdks_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="Unknown parameter"):
        client.images.generate(model="gpt-image-1", prompt="x", extra_body={"colour": "red"})


def test_streamed_generation_and_edit_events_validate(client: openai.OpenAI) -> None:
    stream = client.images.generate(
        model="gpt-image-1", prompt="a red fox", stream=True, partial_images=2, size="1024x1024"
    )
    events = list(stream)
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    for event in events[:2]:
        ImageGenPartialImageEvent.model_validate(event.model_dump())
    done = ImageGenCompletedEvent.model_validate(events[-1].model_dump())
    assert done.size == "1024x1024" and done.created_at > 0
    edit = client.images.edit(
        model="gpt-image-1",
        image=("in.png", io.BytesIO(make_png(8, 8)), "image/png"),
        prompt="a hat",
        stream=True,
    )
    (last,) = list(edit)
    assert ImageEditCompletedEvent.model_validate(last.model_dump()).type == "image_edit.completed"


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    listed = client.models.list()
    for entry in listed.data:
        Model.model_validate(entry.model_dump())
    ids = [m.id for m in listed.data]
    assert "gpt-image-1" in ids and "google/gemini-2.5-flash-image" in ids
    one = client.models.retrieve("google/gemini-2.5-flash-image")
    assert Model.model_validate(one.model_dump()).owned_by == "google"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")
