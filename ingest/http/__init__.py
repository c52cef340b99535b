"""HTTP for every role: one app factory (``app.create_app``) with one exception-handler table,
one JSON response (``responses``), one size-limited body reader (``body``), Basic auth
(``auth``), request metrics (``metrics``), the OpenAPI document of the mounted routes
(``openapi``) and the uvicorn server (``server``)."""
