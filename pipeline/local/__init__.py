"""The local runner: executes the pipeline definition's JSON step by step, with no AWS and no Docker."""
