"""Manifests: TOML and JSONL read into rows, every problem at once with its location, shards."""

from __future__ import annotations

from pathlib import Path

import pytest

from imggen.batch import manifest
from imggen.errors import InputError, UsageError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    return [str(p) for p in sorted(manifest.load(path).problems, key=lambda p: p.order)]


def test_toml_defaults_merge_into_each_job(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "assets.toml",
        """
[defaults]
model = "turing/gpt-image-2"
size = "1k"
params = {moderation = "low", extra = {a = 1}}

[[jobs]]
prompt = "a red fox"
output = "out/fox.png"

[[jobs]]
prompt = "a whale"
output = "whale"
n = 2
size = "1536x1024"
format = "JPG"
refs = "ref.png"
params = {extra = {b = 2}}
""",
    )
    m = manifest.load(path)
    assert m.problems == []
    assert m.folder == tmp_path
    assert [(r.number, r.where, dict(r.values)) for r in m.rows] == [
        (
            1,
            f"{path}:7 [[jobs]] #1",
            {
                "model": "turing/gpt-image-2",
                "size": "1K",
                "params": {"moderation": "low", "extra": {"a": 1}},
                "prompt": "a red fox",
                "output": "out/fox.png",
            },
        ),
        (
            2,
            f"{path}:11 [[jobs]] #2",
            {
                "model": "turing/gpt-image-2",
                "size": "1536x1024",
                "params": {"moderation": "low", "extra": {"a": 1, "b": 2}},
                "prompt": "a whale",
                "output": "whale",
                "count": 2,
                "format": "jpeg",
                "refs": ["ref.png"],
            },
        ),
    ]


def test_jsonl_first_line_may_hold_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "jobs.jsonl",
        '{"defaults": {"aspect": "16 : 9", "stream": false}}\n'
        "\n"
        '{"prompt": "a", "output": "a.png"}\n'
        '{"prompt": "b", "output": "b.png", "aspect": "1:1", "seed": 7}\n',
    )
    m = manifest.load(path)
    assert m.problems == []
    assert [(r.number, r.where, dict(r.values)) for r in m.rows] == [
        (1, f"{path}:3", {"aspect": "16:9", "stream": False, "prompt": "a", "output": "a.png"}),
        (
            2,
            f"{path}:4",
            {"aspect": "1:1", "stream": False, "prompt": "b", "output": "b.png", "seed": 7},
        ),
    ]


def test_toml_problems_listed_all_at_once_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.toml",
        """colour = "red"
[defaults]
prompt = "shared"
qualty = "high"

[[jobs]]
promt = "a red fox"
output = "fox.png"

[[jobs]]
prompt = "a whale"
output = "whale.png"
size = "huge"
n = 0
stream = "yes"

[[jobs]]
prompt = "fine"
output = "fine.png"
""",
    )
    assert problems(path) == [
        f"{path}:1: unknown key 'colour'; known keys: defaults, jobs",
        f"{path}:3 [defaults]: 'prompt' belongs in each job, not in defaults",
        f"{path}:4 [defaults]: unknown key 'qualty' (did you mean 'quality'?)",
        f"{path}:6 [[jobs]] #1: the job has no 'prompt'",
        f"{path}:7 [[jobs]] #1: unknown key 'promt' (did you mean 'prompt'?)",
        f"{path}:13 [[jobs]] #2: size 'huge': not a size; give a tier (512, 1K, 2K, 4K), "
        "pixels WxH or auto",
        f"{path}:14 [[jobs]] #2: n 0: must be a whole number of at least 1",
        f"{path}:15 [[jobs]] #2: stream 'yes': must be true or false",
    ]
    m = manifest.load(path)
    assert [r.valid for r in m.rows] == [False, False, True]


def test_jsonl_problems_name_their_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "jobs.jsonl",
        '{"prompt": "a", "output": "a.png", "seed": "x"}\n'
        "not json\n"
        "[1, 2]\n"
        '{"defaults": {"model": "m"}}\n'
        '{"prompt": "b", "output": "-", "inputs": ["-"]}\n'
        '{"prompt": "c", "output": "c.png", "n": 2, "count": 2}\n',
    )
    assert problems(path) == [
        f"{path}:1: seed 'x': must be a whole number",
        f"{path}:2: not valid JSON (Expecting value at column 1)",
        f"{path}:3: each line must be a JSON object (one job)",
        f'{path}:4: defaults go alone on the first line: {{"defaults": {{...}}}}',
        f"{path}:5: output cannot be - (stdin/stdout) in a batch",
        f"{path}:5: inputs cannot read stdin (-) in a batch",
        f"{path}:6: set n or count, not both",
    ]


def test_invalid_toml_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.toml", "[[jobs]]\nprompt = 'a'\noutput = \n")
    (only,) = problems(path)
    assert only.startswith(f"{path}:3: not valid TOML: ")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("empty.toml", "", "no jobs (add [[jobs]] tables)"),
        ("empty.jsonl", "\n\n", "no jobs"),
        ("flat.toml", "jobs = 3\n", "jobs must be an array of tables ([[jobs]])"),
    ],
)
def test_manifest_without_jobs_is_a_problem(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = write(tmp_path, name, text)
    assert problems(path) == [f"{path}: {expected}"]


def test_missing_manifest_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        manifest.load(tmp_path / "nope.toml")


def test_manifest_error_lists_every_problem_and_takes_the_worst_code() -> None:
    err = manifest.ManifestError(
        "m.toml",
        [
            manifest.Problem("m.toml:9 [[jobs]] #2", "no API key", 3, job=2),
            manifest.Problem("m.toml:4 [[jobs]] #1", "bad size", 2, job=1),
        ],
    )
    assert err.message == (
        "manifest m.toml has 2 problems; nothing was sent:\n"
        "  m.toml:4 [[jobs]] #1: bad size\n"
        "  m.toml:9 [[jobs]] #2: no API key"
    )
    assert int(err.exit_code) == 3


@pytest.mark.parametrize(
    ("text", "expected"), [("1/3", (1, 3)), (" 3 / 3 ", (3, 3)), ("1/1", (1, 1))]
)
def test_shard_parses(text: str, expected: tuple[int, int]) -> None:
    assert manifest.parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0", "-1/2"])
def test_bad_shard_refused(text: str) -> None:
    with pytest.raises(UsageError, match="give I/N with 1 <= I <= N"):
        manifest.parse_shard(text)


def test_shards_cover_every_job_exactly_once() -> None:
    rows = [manifest.Row(i, "", {"output": f"img/{i}.png"}) for i in range(1, 101)]
    shards = [{r.number for r in rows if manifest.in_shard(r, i, 3)} for i in (1, 2, 3)]
    assert sum(len(s) for s in shards) == 100
    assert set().union(*shards) == set(range(1, 101))
    assert all(len(s) > 15 for s in shards)  # spread, not all in one


def test_shard_follows_the_output_path_as_written_not_order() -> None:
    a = manifest.Row(1, "", {"output": "./img/a.png"})
    b = manifest.Row(7, "", {"output": "img\\a.png"})
    assert a.shard_key == b.shard_key == "img/a.png"
    assert [manifest.in_shard(a, i, 5) for i in range(1, 6)] == [
        manifest.in_shard(b, i, 5) for i in range(1, 6)
    ]
