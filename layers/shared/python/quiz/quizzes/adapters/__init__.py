"""Infrastructure behind the quiz service's ports: PostgreSQL (the store and its outbox), Kafka (the score
publisher) and EventBridge Scheduler (the question timer)."""
