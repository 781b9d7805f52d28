-- What the leaderboard function has applied, per player: the latest score event (by version).
-- A replayed or reordered event never lowers a score: upserts only move to a higher version.
CREATE TABLE leaderboard_standings (
    quiz_id      text NOT NULL,  -- no foreign key: a late event for a deleted quiz must not wedge the consumer
    user_id      uuid NOT NULL,
    display_name text NOT NULL,
    score        integer NOT NULL,
    version      integer NOT NULL,
    reached_at   timestamptz NOT NULL,
    removed      boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (quiz_id, user_id)
);
