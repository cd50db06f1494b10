"""The pipeline definition only: `get_pipeline` (definition.py), its parameters (parameters.py: one spec
list, one `-p` parser), one builder per step (step_builders.py) and the code bundle (code_bundle.py)."""
