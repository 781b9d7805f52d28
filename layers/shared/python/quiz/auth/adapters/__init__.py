"""Infrastructure behind the User service's ports: PostgreSQL (accounts, sessions) and Redis (limits, revocations)."""
