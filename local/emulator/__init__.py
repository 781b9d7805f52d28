"""The local emulator: API Gateway HTTP/WebSocket, the @connections API and the Kafka event source mapping, driven by template.yaml."""
