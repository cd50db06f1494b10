"""The pipeline's step scripts and the pure functions beside them.

Each `steps/<name>.py` with a `main()` runs inside a SageMaker container (and under the local
runner) exactly the same way; the pure functions it calls are what the tests exercise.
"""
