"""Running one job: prepare (check and build the requests), send (calls, streams), read what
came back into images, save them, and say how it went (outcome, verify)."""
