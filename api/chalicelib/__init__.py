"""Everything the MyFlix API does besides routing: config, table readers, the index, the endpoint client.

Deployed with the Lambda on its own: nothing here imports the project's `steps` package.
"""
