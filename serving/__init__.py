"""The local HTTP server (server.py: the API, the page and the Studio on one port) and its WSGI app (app.py)."""
