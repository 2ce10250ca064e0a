"""imggen: prompts (and images) to image files through any OpenAI-compatible gateway."""

__version__ = "0.1.0"


# The library (imggen/api.py), loaded on first use: `import imggen` stays as light as
# `imggen --version`.
_API = ("generate", "edit", "Result", "Image")


def __getattr__(name: str) -> object:
    if name in _API:
        from imggen import api

        return getattr(api, name)
    if name == "ImggenError":
        from imggen.errors import ImggenError

        return ImggenError
    raise AttributeError(f"module 'imggen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API, "ImggenError"])
