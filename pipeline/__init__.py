"""The pipeline definition (`get_pipeline`), the `myflix` command line, DAG drawing, the local runner."""
