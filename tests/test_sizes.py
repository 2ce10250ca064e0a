"""sizes: tables against the seeds, gpt-image-2 rules, parsing and refusals."""

from __future__ import annotations

import pytest

from imggen.errors import ExitCode, SizeRefused
from imggen.sizes import (
    ASPECTS,
    RULES,
    TIERS,
    Resolved,
    check_pixels,
    describe,
    parse_aspect,
    parse_size,
    resolve,
)

G2 = "gpt-image-2"


def test_rule_names_and_constants():
    assert set(RULES) == {
        "gemini-2.5",
        "gemini-3",
        "gemini-3.1",
        "gemini-3.1-extended",
        "gpt-image-2",
        "gpt-image-2-openai",
        "gpt-image-1",
        "dall-e-3",
        "dall-e-2",
        "seedream",
        "any",
        "together",
        "xai",
        "recraft",
        "flux",
    }
    assert ASPECTS == ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
    assert TIERS == ("512", "1K", "2K", "4K")
    assert RULES["gemini-3.1"].tiers == ("512", "1K", "2K", "4K")
    # the extended ratios where OpenRouter documents them, not on XTY (seed 004)
    assert "1:8" in RULES["gemini-3.1-extended"].aspects
    assert "1:8" not in RULES["gemini-3.1"].aspects
    assert RULES["gemini-2.5"].tiers == ("1K",)
    assert RULES["gpt-image-2"].free_pixels and not RULES["gemini-3"].free_pixels


# Literal values from seeds/002_b08cd22946c7f3fa.txt (and 004 for Gemini 2.5).
GEMINI_25 = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}


def test_gemini_25_table_matches_seed():
    assert dict(RULES["gemini-2.5"].table) == {(a, "1K"): px for a, px in GEMINI_25.items()}


@pytest.mark.parametrize(
    ("aspect", "tier", "pixels"),
    [
        ("1:1", "1K", (1024, 1024)),
        ("1:1", "4K", (4096, 4096)),
        ("2:3", "2K", (1696, 2528)),
        ("3:4", "4K", (3584, 4800)),
        ("4:5", "1K", (928, 1152)),
        ("5:4", "2K", (2304, 1856)),
        ("9:16", "4K", (3072, 5504)),
        ("16:9", "1K", (1376, 768)),
        ("16:9", "2K", (2752, 1536)),
        ("16:9", "4K", (5504, 3072)),
        ("21:9", "1K", (1584, 672)),
        ("21:9", "4K", (6336, 2688)),
    ],
)
def test_gemini_3_table_matches_seed(aspect, tier, pixels):
    assert RULES["gemini-3"].table[(aspect, tier)] == pixels
    assert RULES["gemini-3.1"].table[(aspect, tier)] == pixels
    assert RULES["seedream"].table[(aspect, tier)] == pixels


def test_gemini_3_table_is_complete_and_512_unknown():
    table = RULES["gemini-3"].table
    assert set(table) == {(a, t) for a in ASPECTS for t in ("1K", "2K", "4K")}
    assert resolve("gemini-3.1", "gemini-3.1-flash-image-preview", "16:9", "512") == Resolved(
        "16:9", "512", None
    )


# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("16:9", "16:9"), ("16 : 9", "16:9"), (" 1:1 ", "1:1"), ("021:09", "21:9"), ("7:5", "7:5")],
)
def test_parse_aspect(text, expected):
    assert parse_aspect(text) == expected


@pytest.mark.parametrize(
    "text", ["", "16x9", "16/9", "0:1", "1:0", "-1:1", "1.5:1", "16:9:1", "wide", "٣:٤", "1:"]
)
def test_parse_aspect_refuses(text):
    with pytest.raises(SizeRefused) as e:
        parse_aspect(text)
    assert e.value.exit_code == ExitCode.USAGE
    assert repr(text) in e.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1k", "1K"),
        ("1K", "1K"),
        ("2k", "2K"),
        (" 4K ", "4K"),
        ("512", "512"),
        ("auto", "auto"),
        ("AUTO", "auto"),
        ("1536x1024", (1536, 1024)),
        ("1536X1024", (1536, 1024)),
        ("1024 x 1536", (1024, 1536)),
        ("1024×1024", (1024, 1024)),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "3K", "8k", "1024", "0x100", "100x0", "1024x", "x1024", "1024*1024", "1.5x2", "big"],
)
def test_parse_size_refuses(text):
    with pytest.raises(SizeRefused, match="cannot read size"):
        parse_size(text)


# --- gpt-image-2 -------------------------------------------------------------------------


@pytest.mark.parametrize("aspect", ASPECTS)
@pytest.mark.parametrize("tier", ["1K", "2K", "4K"])
def test_gpt_image_2_derived_pixels_pass_its_rules(aspect, tier):
    got = resolve(G2, G2, aspect, tier)
    assert got.aspect == aspect and got.tier == tier and got.pixels is not None
    w, h = got.pixels
    check_pixels(G2, G2, w, h)
    a, b = (int(x) for x in aspect.split(":"))
    assert abs(w * b / (h * a) - 1) < 0.03  # keeps the shape asked for


@pytest.mark.parametrize(
    ("aspect", "tier", "pixels"),
    [
        ("16:9", "4K", (3840, 2160)),
        ("9:16", "4K", (2160, 3840)),
        ("1:1", "4K", (2880, 2880)),
        ("16:9", "1K", (1376, 768)),
        ("16:9", "2K", (2752, 1536)),
        ("21:9", "4K", (3840, 1632)),
        ("1:1", "1K", (1024, 1024)),
    ],
)
def test_gpt_image_2_literal_pixels(aspect, tier, pixels):
    assert resolve(G2, G2, aspect, tier).pixels == pixels


def test_gpt_image_2_defaults():
    assert resolve(G2, G2, None, None) == Resolved(None, None, None)
    assert resolve(G2, G2, "16:9", None) == Resolved("16:9", None, (1376, 768))
    assert resolve(G2, G2, None, "2K") == Resolved(None, "2K", (2048, 2048))
    assert resolve(G2, G2, "3:2", "auto") == Resolved("3:2", None, None)
    assert resolve(G2, G2, None, "3840x2160") == Resolved(None, None, (3840, 2160))
    assert resolve(G2, G2, "16:9", "3840x2160") == Resolved("16:9", None, (3840, 2160))


@pytest.mark.parametrize(
    ("w", "h", "reason"),
    [
        (1000, 1024, "both sides must be multiples of 16"),
        (1024, 1000, "both sides must be multiples of 16"),
        (4000, 2000, "the long side must be at most 3840 px"),
        (3840, 1264, "at most 3x the short side"),
        (768, 768, "at least 655,360 pixels, this is 589,824"),
        (3840, 2176, "at most 8,294,400 pixels, this is 8,355,840"),
    ],
)
def test_gpt_image_2_constraints_refused(w, h, reason):
    with pytest.raises(SizeRefused) as e:
        check_pixels(G2, G2, w, h)
    assert e.value.message.startswith(f"gpt-image-2 cannot make {w}x{h}: ")
    assert reason in e.value.message
    assert e.value.hint is not None and e.value.hint.startswith("try --size ")
    sw, sh = (int(x) for x in e.value.hint.removeprefix("try --size ").split("x"))
    check_pixels(G2, G2, sw, sh)  # the suggestion itself is valid


def test_gpt_image_2_long_side_message_literal():
    with pytest.raises(SizeRefused) as e:
        resolve(G2, "turing/gpt-image-2", None, "4000x2000")
    assert e.value.message == (
        "turing/gpt-image-2 cannot make 4000x2000: the long side must be at most 3840 px"
    )


@pytest.mark.parametrize(
    ("w", "h"), [(1024, 640), (3840, 2160), (2880, 2880), (3840, 1280), (1280, 3840)]
)
def test_gpt_image_2_boundaries_accepted(w, h):
    check_pixels(G2, G2, w, h)


def test_gpt_image_2_512_refused_with_hint():
    with pytest.raises(SizeRefused) as e:
        resolve(G2, G2, "1:1", "512")
    assert "655,360" in e.value.message and "1K, 2K, 4K" in e.value.message
    assert e.value.hint is not None and "--size 1K" in e.value.hint


def test_aspect_and_pixels_must_agree():
    with pytest.raises(SizeRefused, match=r"cannot make 1536x1024 at aspect 16:9"):
        resolve(G2, G2, "16:9", "1536x1024")
    assert resolve("seedream", "seedream", "3:2", "1536x1024").pixels == (1536, 1024)


# --- gpt-image-1, seedream, any ----------------------------------------------------------


def test_gpt_image_1_sizes():
    m = "gpt-image-1"
    assert resolve(m, m, "1:1", None).pixels == (1024, 1024)
    assert resolve(m, m, "3:2", None).pixels == (1536, 1024)
    assert resolve(m, m, "2:3", "1K").pixels == (1024, 1536)
    assert resolve(m, m, None, "1024x1536") == Resolved(None, None, (1024, 1536))
    assert resolve(m, m, None, "auto") == Resolved(None, None, None)
    with pytest.raises(SizeRefused, match=r"^gpt-image-1 cannot make aspect 16:9; it accepts: "):
        resolve(m, m, "16:9", None)
    with pytest.raises(SizeRefused, match=r"^gpt-image-1 has no 2K tier; it accepts: 1K$"):
        resolve(m, m, "1:1", "2K")
    with pytest.raises(SizeRefused, match="1024x1024, 1536x1024, 1024x1536"):
        check_pixels(m, m, 2048, 2048)


def test_seedream():
    m = "doubao-seedream-4-5-251128"
    assert resolve("seedream", m, "16:9", "4K").pixels == (5504, 3072)
    assert resolve("seedream", m, "16:9", None).pixels == (1376, 768)
    assert resolve("seedream", m, None, "1000x333").pixels == (1000, 333)
    assert resolve("seedream", m, None, "auto") == Resolved(None, None, None)
    with pytest.raises(SizeRefused, match=f"^{m} cannot make 9000x1000: each side must be 64-8192"):
        resolve("seedream", m, None, "9000x1000")
    with pytest.raises(SizeRefused, match="has no 512 tier; it accepts: 1K, 2K, 4K"):
        resolve("seedream", m, None, "512")


def test_any_passes_everything_through():
    assert resolve("any", "x", "7:5", "140x100") == Resolved("7:5", None, (140, 100))
    assert resolve("any", "x", "7:5", "4K") == Resolved("7:5", "4K", None)
    assert resolve("any", "x", None, "auto") == Resolved(None, None, None)
    check_pixels("any", "x", 99999, 1)


# --- Gemini families ---------------------------------------------------------------------


def test_gemini_resolve():
    m = "gemini-3-pro-image"
    assert resolve("gemini-3", m, "16:9", "4K") == Resolved("16:9", "4K", (5504, 3072))
    assert resolve("gemini-3", m, "16:9", None) == Resolved("16:9", None, None)
    assert resolve("gemini-3", m, None, "2K") == Resolved(None, "2K", None)
    assert resolve("gemini-3", m, None, None) == Resolved(None, None, None)
    assert resolve("gemini-2.5", "g", "21:9", None) == Resolved("21:9", None, (1536, 672))
    assert resolve("gemini-2.5", "g", "21:9", "1K") == Resolved("21:9", "1K", (1536, 672))


def test_gemini_pixels_must_be_a_table_entry():
    m = "gemini-3-pro-image"
    assert resolve("gemini-3", m, None, "2752x1536") == Resolved("16:9", "2K", (2752, 1536))
    # the 2.5 table's 21:9 is 2.04% off 21/9; being a table entry it is accepted
    assert resolve("gemini-2.5", "g", "21:9", "1536x672") == Resolved("21:9", "1K", (1536, 672))
    with pytest.raises(SizeRefused) as e:
        resolve("gemini-3", m, None, "1920x1080")
    assert e.value.message == (
        "gemini-3-pro-image cannot make 1920x1080: its sizes are fixed per aspect and tier; "
        "nearest: 1376x768 (16:9 1K), 2752x1536 (16:9 2K)"
    )
    assert e.value.hint == "use --aspect 16:9 --size 1K"
    with pytest.raises(SizeRefused, match="2752x1536 is its 16:9 2K size; 1:1 2K is 2048x2048"):
        resolve("gemini-3", m, "1:1", "2752x1536")


def test_gemini_refusals_name_accepted_values():
    with pytest.raises(SizeRefused) as e:
        resolve("gemini-2.5", "gemini-2.5-flash-image", None, "4K")
    assert e.value.message == "gemini-2.5-flash-image has no 4K tier; it accepts: 1K"
    with pytest.raises(SizeRefused, match="has no 512 tier; it accepts: 1K, 2K, 4K"):
        resolve("gemini-3", "gemini-3-pro-image-preview", None, "512")
    with pytest.raises(SizeRefused) as e:
        resolve("gemini-3", "gemini-3-pro-image", "7:5", "1K")
    assert e.value.message == (
        "gemini-3-pro-image cannot make aspect 7:5; it accepts: "
        "1:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9"
    )
    with pytest.raises(SizeRefused, match="has no auto size; it accepts: 1K, 2K, 4K"):
        resolve("gemini-3", "gemini-3-pro-image", None, "auto")


def test_describe_every_rule():
    for name in RULES:
        line = describe(name)
        assert line and "\n" not in line
    assert "3840" in describe("gpt-image-2")
    assert "1024x1536" in describe("gpt-image-1")
    with pytest.raises(ValueError, match="unknown size rule"):
        describe("nope")


def test_gpt_image_2_names_every_broken_rule():
    with pytest.raises(SizeRefused) as e:
        check_pixels(G2, G2, 100, 5000)
    assert e.value.message == (
        "gpt-image-2 cannot make 100x5000: both sides must be multiples of 16; "
        "the long side must be at most 3840 px; the long side may be at most 3x the short side; "
        "it needs at least 655,360 pixels, this is 500,000"
    )


def test_the_pixel_floor_is_turings_not_openais():
    """655,360 pixels at least is Turing's gpt-image-2 rule (seed 002); OpenAI states none."""
    with pytest.raises(SizeRefused, match="at least 655,360 pixels"):
        check_pixels(G2, G2, 512, 512)
    check_pixels("gpt-image-2-openai", G2, 512, 512)
    with pytest.raises(SizeRefused, match="multiples of 16"):
        check_pixels("gpt-image-2-openai", G2, 510, 512)
    assert "655,360" not in describe("gpt-image-2-openai")


def test_openais_gpt_image_2_takes_a_small_size_turings_refuses():
    from imggen.dialects.presets import PRESETS

    openai = PRESETS["openai"].find("gpt-image-2")
    turing = PRESETS["turing"].find("turing/gpt-image-2")
    assert openai is not None and turing is not None
    assert resolve(openai.size_rule, "gpt-image-2", None, "768x512").pixels == (768, 512)
    with pytest.raises(SizeRefused):
        resolve(turing.size_rule, "turing/gpt-image-2", None, "768x512")
