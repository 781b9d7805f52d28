"""The live leaderboard: score events applied idempotently to Redis sorted sets, pushed coalesced."""
