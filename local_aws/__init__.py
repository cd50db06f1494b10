"""The local AWS stand-ins (S3, Glue catalog, model registry, endpoint records), standard library only.

layout.py spells `<workdir>/{s3,catalog,registry,models,endpoints}/...` once (the one S3-URI parser,
the one atomic JSON writer, the one local Glue write, endpoint records); store.py is the object
store, registry.py the model registry, tarball.py the one deterministic tar.gz writer, constants.py
the local account, region, bucket and role. steps/local_layout.py and api/chalicelib/local_layout.py
are byte-identical copies of layout.py (packaging: docs/CONTRACTS.md, "Local AWS stand-ins").
"""
