"""Serving: the SKLearn container handler (`inference.py`) and the local endpoint that serves it."""
