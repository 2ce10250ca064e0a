#!/usr/bin/env bash
# Regenerate the shipped completion scripts from the CLI itself (the installed `imggen`).
# Typer takes an explicit shell name for --show-completion only with detection disabled.
# zsh: Typer's script only registers its function when compinit first loads it from $fpath,
# so the first TAB of every new shell completes nothing; the shipped one also completes then.
set -euo pipefail
dir="$(dirname "$0")"
for shell in bash zsh fish; do
  script=$(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION=1 imggen --show-completion "$shell")
  if [ "$shell" = zsh ]; then
    script="${script}
# Loaded by compinit from \$fpath, this file runs on the first TAB: complete at once too, or
# the first TAB of every new shell would only register the function.
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _imggen_completion \"\$@\"
fi"
  fi
  printf '%s\n' "$script" > "$dir/imggen.$shell"
done
