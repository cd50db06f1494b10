"""Deployment that follows the model registry: staging, a smoke test, promotion to prod, rollback.

One implementation for every caller: the Lambda behind the EventBridge rule on "SageMaker Model
Package State Change" (deployer/lambda_handler.py), `myflix deploy status|promote|rollback`, and
`myflix registry approve|reject` locally. `deployer.release` holds the pure rules (names, tags,
the smoke test's verdict, which package a rollback goes to), `deployer.backends` the two places a
release can go (SageMaker through boto3, or the local stand-ins under `<workdir>`), and
`deployer.deployer` the sequence. Only the standard library and boto3 are imported at module
level: the Lambda's Python runtime has nothing else.
"""
