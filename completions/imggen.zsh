#compdef imggen

_imggen_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _IMGGEN_COMPLETE=complete_zsh imggen)
}

compdef _imggen_completion imggen
# Loaded by compinit from $fpath, this file runs on the first TAB: complete at once too, or
# the first TAB of every new shell would only register the function.
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
  _imggen_completion "$@"
fi
