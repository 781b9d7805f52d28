-- Quizzes, their questions, participants, answers and the transactional outbox of score events.
-- The quiz id is a short game PIN. Question ids are their 1-based positions.
CREATE TABLE quizzes (
    id               text PRIMARY KEY,
    host_id          uuid NOT NULL REFERENCES users (id),
    title            text NOT NULL,
    streak_bonus     integer NOT NULL DEFAULT 0 CHECK (streak_bonus BETWEEN 0 AND 500),
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'running', 'ended')),
    locked           boolean NOT NULL DEFAULT false,
    current_position integer NOT NULL DEFAULT 0,
    question_count   integer NOT NULL CHECK (question_count BETWEEN 1 AND 100),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    ended_at         timestamptz
);
CREATE INDEX quizzes_host_idx ON quizzes (host_id, created_at DESC);

CREATE TABLE questions (
    quiz_id          text NOT NULL REFERENCES quizzes (id) ON DELETE CASCADE,
    position         integer NOT NULL CHECK (position >= 1),
    kind             text NOT NULL CHECK (kind IN ('multiple_choice', 'typed')),
    prompt           text NOT NULL,
    choices          jsonb,
    correct_choice   integer,
    accepted_answers jsonb,
    typo_tolerance   integer NOT NULL DEFAULT 0,
    time_limit_ms    integer NOT NULL CHECK (time_limit_ms > 0),
    points           integer NOT NULL CHECK (points >= 0),
    opened_at        timestamptz,
    deadline         timestamptz,
    closed_at        timestamptz,
    PRIMARY KEY (quiz_id, position)
);

CREATE TABLE participants (
    quiz_id               text NOT NULL REFERENCES quizzes (id) ON DELETE CASCADE,
    user_id               uuid NOT NULL REFERENCES users (id),
    display_name          text NOT NULL,
    status                text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'removed')),
    joined_at             timestamptz NOT NULL DEFAULT now(),
    total                 integer NOT NULL DEFAULT 0,
    version               integer NOT NULL DEFAULT 0,   -- bumped with every change of total/status
    streak                integer NOT NULL DEFAULT 0,
    last_correct_position integer NOT NULL DEFAULT 0,
    reached_at            timestamptz NOT NULL DEFAULT now(),  -- when the current total was reached (ties)
    PRIMARY KEY (quiz_id, user_id)
);

CREATE TABLE answers (
    quiz_id          text NOT NULL,
    position         integer NOT NULL,
    user_id          uuid NOT NULL,
    idempotency_key  text,
    given            text NOT NULL,
    correct          boolean NOT NULL,
    points           integer NOT NULL,
    elapsed_ms       integer NOT NULL,
    total_after      integer NOT NULL,
    version_after    integer NOT NULL,
    answered_at      timestamptz NOT NULL,
    PRIMARY KEY (quiz_id, position, user_id),
    FOREIGN KEY (quiz_id, position) REFERENCES questions (quiz_id, position) ON DELETE CASCADE,
    FOREIGN KEY (quiz_id, user_id) REFERENCES participants (quiz_id, user_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX answers_idempotency_key ON answers (quiz_id, user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Written in the same transaction as the change it announces; published to Kafka right after the
-- commit, and republished by the relay if that publish never happened.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          text NOT NULL,
    payload      jsonb NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
