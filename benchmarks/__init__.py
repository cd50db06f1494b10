"""MyFlix benchmarks: each `bench_<name>` module prints its figures and a ratio to a baseline run alongside.

Run them all with `python -m benchmarks` (or `make bench`); never imported by the pipeline.
"""
