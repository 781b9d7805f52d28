-- depends: 0012_answer_streak
-- A learner's results (GET /users/me/results) find their seats by user id; the primary key
-- (quiz_id, user_id) cannot serve that, so without this every call would scan all participants ever.
-- The host's report needs no new index: it reads by quiz id through the primary keys.
CREATE INDEX participants_user_idx ON participants (user_id);
