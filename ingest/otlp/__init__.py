"""The OTLP trace receivers: gRPC (``grpc_receiver``) and HTTP (``http_receiver``) over one
transport-independent core (``export``: authenticate, admit, map, submit), OTLP/JSON decoding
(``json_codec``). Both answer failures with the status table of ``ingest.errors``."""
