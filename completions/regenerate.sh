#!/usr/bin/env bash
# Regenerate the shipped completion scripts from the CLI itself (the installed `imggen`).
# Typer takes an explicit shell name for --show-completion only with detection disabled.
# zsh's script completes on the first TAB of a new shell too (see imggen/cli/app.py).
set -euo pipefail
dir="$(dirname "$0")"
for shell in bash zsh fish; do
  _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION=1 imggen --show-completion "$shell" > "$dir/imggen.$shell"
done
