"""The quiz's shared package (the Lambda layer): domain, services, ports, adapters, config, errors."""
