"""Every generate/edit option, described once, and the one walk of precedence over them.

An `Option` says how the option is typed on the command line (flags, placeholder, help), how
any value of it is read and checked (`parse`, the same for a flag, a profile default, a
manifest job and `config set`), where else it may be set, and whether it enters the request
digest and provenance. `generate`, `edit`, `batch`, profile defaults, `config set`, manifests
and provenance all read `OPTIONS`. Pure: no I/O.

Precedence is walked once, in `merge()`: the first layer that sets a value wins, and `params`
tables merge deeply. The layers, highest first:

- generate/edit: flag > profile default > built-in default (the environment chooses only the
  profile, base URL, key, model and dialect: see settings.py);
- batch: manifest job > manifest ``[defaults]`` > batch flag > profile default > built-in default.
"""

from __future__ import annotations

from imggen.options.layers import (
    Layer,
    Problem,
    Values,
    check,
    check_one,
    flag_layer,
    merge,
)
from imggen.options.parsers import FORMATS, Invalid, deep_merge
from imggen.options.table import (
    BATCH,
    CLI,
    DIGEST,
    DOCTOR,
    EDIT,
    GENERATE,
    IMAGE,
    INPUT,
    JOB,
    MAKERS,
    MANIFEST_KEYS,
    MODELS,
    OPTIONS,
    PER_JOB,
    PROFILE_OPTIONS,
    RUN,
    RUN_PANEL,
    SETTINGS,
    Option,
    canonical,
    for_command,
)

__all__ = [
    "BATCH",
    "CLI",
    "DIGEST",
    "DOCTOR",
    "EDIT",
    "FORMATS",
    "GENERATE",
    "IMAGE",
    "INPUT",
    "JOB",
    "MAKERS",
    "MANIFEST_KEYS",
    "MODELS",
    "OPTIONS",
    "PER_JOB",
    "PROFILE_OPTIONS",
    "RUN_PANEL",
    "RUN",
    "SETTINGS",
    "Invalid",
    "Layer",
    "Option",
    "Problem",
    "Values",
    "canonical",
    "check",
    "check_one",
    "deep_merge",
    "flag_layer",
    "for_command",
    "merge",
]
