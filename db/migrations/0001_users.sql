-- Accounts of the User service. Passwords are argon2id hashes; usernames are unique case-insensitively.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL,
    display_name  text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL DEFAULT 'player' CHECK (role IN ('player', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
