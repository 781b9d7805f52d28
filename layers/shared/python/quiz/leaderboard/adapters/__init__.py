"""Infrastructure behind the leaderboard's ports: Redis (the live board), PostgreSQL (persisted standings)
and Kafka (board ticks)."""
