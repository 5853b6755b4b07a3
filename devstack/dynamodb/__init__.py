"""The local DynamoDB engine: moto's server model, made to behave as DynamoDB does where the app relies on it.

``python -m devstack.dynamodb --port PORT --data-dir DIR`` serves DynamoDB and DynamoDB Streams on
127.0.0.1:PORT. moto (Apache-2.0) models the API; this package adds what a database needs and a test
mock does not (see ``docs/local-engine.md``): atomic, isolated transactions and conditional writes
(``engine``), rollback that leaves nothing behind, writes that survive SIGKILL (``journal``), streams
whose sequence numbers continue across restarts with bounded memory (``streams``), and queries whose
cost follows the partition, not the table (``moto_fixes``). It does not emulate throughput, throttling
or partitions: capacity is sized from AWS's rules by the project itself, never read from the engine.
"""
