"""Batch runs: manifests, the plan of what to run or skip, and the concurrent run."""
