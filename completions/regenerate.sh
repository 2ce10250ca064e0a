#!/usr/bin/env bash
# Regenerate the shipped completion scripts from the CLI itself (the installed `imggen`).
# Typer takes an explicit shell name for --show-completion only with detection disabled.
set -euo pipefail
dir="$(dirname "$0")"
for shell in bash zsh fish; do
  script=$(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION=1 imggen --show-completion "$shell")
  printf '%s\n' "$script" > "$dir/imggen.$shell"
done
