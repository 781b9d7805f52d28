-- The streak as it was right after each answer, so an Idempotency-Key retry returns exactly the
-- first result (the player's current streak may have moved on since).
ALTER TABLE answers ADD COLUMN streak_after integer NOT NULL DEFAULT 0;
