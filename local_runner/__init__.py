"""The local runner: a pipeline definition run step by step on this machine."""
