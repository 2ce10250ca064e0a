"""The HTTP side: API calls, image downloads, retries, status mapping and reply-body reading."""
