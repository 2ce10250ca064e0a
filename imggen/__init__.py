"""imggen: prompts (and images) to image files through any OpenAI-compatible gateway."""

__version__ = "0.1.0"
