"""Profiles: the config file, settings resolved one precedence layer at a time, keys and how
they are sent, model aliases, and the cached model listing."""
