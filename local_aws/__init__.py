"""The local AWS stand-ins (S3, Glue catalog, model registry, endpoint records). Stdlib only."""
