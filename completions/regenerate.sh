#!/usr/bin/env bash
# Regenerate the shipped completion scripts from the CLI itself.
# Typer takes an explicit shell name for --show-completion only with detection disabled.
set -euo pipefail
cd "$(dirname "$0")"
for shell in bash zsh fish; do
  _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION=1 imggen --show-completion "$shell" > "imggen.$shell"
done
