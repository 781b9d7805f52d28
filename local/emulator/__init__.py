"""A local API Gateway (HTTP + WebSocket APIs, @connections) and Lambda runtime driven by the SAM template.

Start it with `python -m local.emulator` (see __main__.py) or `make run`. The modules, by what they are:
template (SAM -> Application), events (one builder per AWS event shape), runtime and worker (Lambda
execution environments), http_api, websocket, management (@connections), connections (the registry
port and its adapters), docs (Swagger UI, OpenAPI, WebSocket page), app (the composition root), server
(uvicorn), settings.
"""
