"""Files on disk: output targets, saving images whole, image inspection, provenance."""
