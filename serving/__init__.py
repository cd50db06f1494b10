"""The local HTTP server for the API and the page."""
