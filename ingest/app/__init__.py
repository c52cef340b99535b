"""The entry point: the ``otelfuse`` command and one module per role.

| module          | what it holds                                                         |
|-----------------|-----------------------------------------------------------------------|
| ``cli``         | ``otelfuse run|receiver|processor|query|migrate``, argument parsing    |
| ``admin``       | ``otelfuse projects|keys|models`` (PostgreSQL metadata)               |
| ``settings``    | ``Settings``: the components' configs composed, ``OTELFUSE_*`` and TOML |
| ``service``     | the ``Service`` lifecycle every role implements                       |
| ``all_in_one``  | ``AllInOne``: receivers, in-process pipeline and read API             |
| ``receiver``    | ``Receiver``: OTLP and Langfuse writes to Kafka                       |
| ``processor``   | ``Processor``: Kafka to ClickHouse (and the read API with ``--query``) |
| ``query``       | ``Query``: the Langfuse read API                                      |
| ``migrate``     | ``migrate``: ClickHouse and PostgreSQL migrations                     |
| ``clickhouse``, ``metadata``, ``processing``, ``servers`` | what the roles share: opening |
|                 | ClickHouse, keys and PostgreSQL, the process step, starting servers   |

Every role starts its parts on one ``contextlib.AsyncExitStack`` and stops by closing it, so
the stop order is the reverse of the start order.
"""
