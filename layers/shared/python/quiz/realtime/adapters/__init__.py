"""Infrastructure behind the realtime ports: the connection registry in Redis and delivery through the API
Gateway management API (with the local gateway's batch extension and Lambda fan-out shards)."""
